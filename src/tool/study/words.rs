//! A study's commands as the user wrote them: one string each, split into words
//! as a POSIX shell splits a simple command (no shell runs: write `sh -c '…'` for
//! pipes, redirections or variables), then `{port}` replaced in every word.

/// The placeholder replaced by the mode's port in every word of every command.
pub const PORT: &str = "{port}";

/// `line` split into words as a POSIX shell would split a simple command:
/// blanks separate words; `'…'` keeps everything inside as it is; `"…"` keeps
/// everything but `\"`, `\\`, `` \` ``, `\$` and backslash-newline, which it
/// unescapes; outside quotes a backslash keeps the next character (and removes
/// a newline). `''` and `""` make an empty word (`--save ""`). Nothing else is
/// special: no variables, globs, `~`, comments or operators.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Whether a word has begun (a quoted empty string is a word).
    let mut begun = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if begun {
                    words.push(std::mem::take(&mut word));
                    begun = false;
                }
            }
            '\'' => {
                begun = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("{line:?}: a single quote is not closed")),
                    }
                }
            }
            '"' => {
                begun = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '`' | '$')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("{line:?}: a double quote is not closed")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("{line:?}: a double quote is not closed")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    begun = true;
                    word.push(c);
                }
                None => return Err(format!("{line:?}: ends with a backslash")),
            },
            c => {
                begun = true;
                word.push(c);
            }
        }
    }
    if begun {
        words.push(word);
    }
    if words.is_empty() {
        return Err(format!("{line:?}: an empty command"));
    }
    Ok(words)
}

/// `words` with every `{port}` replaced by `port`.
pub fn with_port(words: &[String], port: u16) -> Vec<String> {
    let port = port.to_string();
    words.iter().map(|w| w.replace(PORT, &port)).collect()
}

/// `text` with every occurrence of `port` that is a whole number (no digit
/// before or after it) written `{port}` again: the two modes use different
/// ports, and a line is compared, and shown, as the command was written.
pub fn unport(text: &str, port: u16) -> String {
    let port = port.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&port) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + port.len()..].chars().next();
        let whole = !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit());
        out.push_str(&rest[..at]);
        out.push_str(if whole { PORT } else { &port });
        rest = &rest[at + port.len()..];
    }
    out.push_str(rest);
    out
}

/// The name a command's program goes by: its first word's last path component.
pub fn program(words: &[String]) -> String {
    let first = words.first().map_or("", String::as_str);
    first.rsplit('/').next().unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn words_split_as_a_shell_splits_them() {
        assert_eq!(
            s("redis-cli -p {port} ping"),
            ["redis-cli", "-p", "{port}", "ping"]
        );
        assert_eq!(
            s("redis-server --port {port} --save \"\" --appendonly no"),
            [
                "redis-server",
                "--port",
                "{port}",
                "--save",
                "",
                "--appendonly",
                "no"
            ]
        );
        assert_eq!(s("a  ''  b"), ["a", "", "b"]);
        assert_eq!(
            s("sh -c 'echo \"$HOME\" | wc'"),
            ["sh", "-c", "echo \"$HOME\" | wc"]
        );
        assert_eq!(s(r#"echo "a \"b\" \$c \n""#), ["echo", r#"a "b" $c \n"#]);
        assert_eq!(s(r"a\ b c\'d"), ["a b", "c'd"]);
        assert_eq!(s("x'y'\"z\"w"), ["xyzw"]);
        assert_eq!(s("\ta\n"), ["a"]);
        assert!(split("echo 'open").unwrap_err().contains("single quote"));
        assert!(split("echo \"open").unwrap_err().contains("double quote"));
        assert!(split("echo \\").unwrap_err().contains("backslash"));
        assert!(split("   ").unwrap_err().contains("empty"));
    }

    #[test]
    fn the_port_goes_in_and_comes_out_whole() {
        let words = s("curl -s http://127.0.0.1:{port}/{port}");
        assert_eq!(
            with_port(&words, 8080),
            ["curl", "-s", "http://127.0.0.1:8080/8080"]
        );
        assert_eq!(
            unport("at 127.0.0.1:8080: 18080 80801 8080", 8080),
            "at 127.0.0.1:{port}: 18080 80801 {port}"
        );
        assert_eq!(program(&s("/usr/bin/redis-cli ping")), "redis-cli");
        assert_eq!(program(&s("python3 -m http.server")), "python3");
    }
}
