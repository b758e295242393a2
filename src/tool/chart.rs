//! Charts for the report, as SVG documents drawn with `plotters`.
//!
//! Only plotters' SVG backend is built: it writes text as `<text>` elements and
//! leaves the fonts to whatever shows the picture, so the tool needs no fonts (no
//! `ttf`/font-kit) and lays labels out with plotters' own estimate of their size.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The colour of refused calls.
const REFUSED: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
/// The colour of accepted calls.
const ACCEPTED: RGBColor = RGBColor(0x95, 0xa5, 0xa6);
/// The picture's width in pixels.
const WIDTH: i32 = 800;
/// Longest program name drawn whole, in characters.
const NAME_CHARS: usize = 32;

/// "Options refused per program": one horizontal bar per row, in the rows' order
/// from the top, its `refused` calls (red) stacked with its `accepted` ones
/// (grey), the two counts written after it, each bar named by its program.
/// `rows` are (program, refused, accepted). Returns an SVG document.
///
/// Drawing into a string cannot fail; were plotters ever to report an error, what
/// it had drawn is returned.
pub fn refused_per_program(rows: &[(String, u32, u32)]) -> String {
    let mut svg = String::new();
    let _ = draw(rows, &mut svg);
    svg
}

fn draw(rows: &[(String, u32, u32)], svg: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let names: Vec<String> = rows
        .iter()
        .map(|(name, ..)| super::ellipsize(name, NAME_CHARS))
        .collect();
    let bars = rows.len().max(1);
    let most = rows
        .iter()
        .map(|&(_, refused, accepted)| refused.saturating_add(accepted))
        .max()
        .unwrap_or(0)
        .max(1);
    // Room after the longest bar for its counts.
    let x_end = most.saturating_add((most / 4).max(2));
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let name_area = u32::try_from(24 + 7 * longest).unwrap_or(u32::MAX);
    let height = u32::try_from(130 + 32 * bars.max(3)).unwrap_or(u32::MAX);

    let root = SVGBackend::with_string(svg, (WIDTH as u32, height)).into_drawing_area();
    root.fill(&WHITE)?;
    // Program i has y = top - 10 i - 10 .. top - 10 i (the first on top), its bar
    // the middle 6 tenths, its name the label at the middle.
    let top = u32::try_from(10 * bars).unwrap_or(u32::MAX);
    let middle = |i: usize| top.saturating_sub(u32::try_from(10 * i + 5).unwrap_or(u32::MAX));
    let middles: Vec<u32> = (0..rows.len()).map(middle).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption("setsockopt options refused per program", ("sans-serif", 20))
        .margin(12)
        // The legend's room, right of the plot.
        .margin_right(110)
        .x_label_area_size(44)
        .y_label_area_size(name_area)
        .build_cartesian_2d(0u32..x_end, (0..top).with_key_points(middles))?;
    let label = |y: &u32| {
        let i = top.saturating_sub(*y) / 10;
        names.get(i as usize).cloned().unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_label_formatter(&label)
        .y_label_style(("sans-serif", 14))
        .x_label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 14))
        .x_max_light_lines(2)
        .x_desc("setsockopt calls")
        .y_desc("program")
        .draw()?;

    let bar = |i: usize, from: u32, to: u32, colour: RGBColor| {
        let y = middle(i);
        Rectangle::new([(from, y - 3), (to, y + 3)], colour.filled())
    };
    let refused = rows
        .iter()
        .enumerate()
        .filter(|(_, (_, refused, _))| *refused > 0)
        .map(|(i, &(_, refused, _))| bar(i, 0, refused, REFUSED));
    chart.draw_series(refused)?;
    let accepted = rows
        .iter()
        .enumerate()
        .filter(|(_, (_, _, accepted))| *accepted > 0)
        .map(|(i, &(_, refused, accepted))| bar(i, refused, refused.saturating_add(accepted), ACCEPTED));
    chart.draw_series(accepted)?;
    let counts = rows.iter().enumerate().map(|(i, &(_, refused, accepted))| {
        let total = refused.saturating_add(accepted);
        // 6 pixels after the bar.
        EmptyElement::at((total, middle(i)))
            + Text::new(
                format!("{refused} of {total} refused"),
                (6, 0),
                TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
            )
    });
    chart.draw_series(counts)?;
    if rows.is_empty() {
        let style = TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        let middle = (WIDTH / 2, i32::try_from(height / 2).unwrap_or(0));
        root.draw(&Text::new("no setsockopt calls", middle, style))?;
    }
    // The legend, right of the plot (plotters' own would be clipped there).
    for (row, (text, colour)) in [("refused", REFUSED), ("accepted", ACCEPTED)]
        .into_iter()
        .enumerate()
    {
        let y = 50 + 20 * row as i32;
        root.draw(&Rectangle::new(
            [(WIDTH - 100, y), (WIDTH - 88, y + 12)],
            colour.filled(),
        ))?;
        let style = TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(text, (WIDTH - 82, y + 6), style))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contents of the SVG's `<text>` elements (plotters puts each on a line of
    /// its own), as written (escaped).
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect()
    }

    /// How many `<rect>` elements are filled with `colour`.
    fn fills(svg: &str, colour: RGBColor) -> usize {
        let RGBColor(r, g, b) = colour;
        let fill = format!("fill=\"#{r:02X}{g:02X}{b:02X}\"");
        svg.split("<rect")
            .skip(1)
            .filter(|rect| {
                rect.split_once("/>")
                    .is_some_and(|(attrs, _)| attrs.contains(&fill))
            })
            .count()
    }

    #[test]
    fn one_bar_per_nonzero_count_and_every_name() {
        let rows: Vec<(String, u32, u32)> = vec![
            ("python3".into(), 4, 5),
            ("redis-server".into(), 0, 12),
            ("memcached".into(), 3, 0),
            ("a&b<c>".into(), 1, 1),
        ];
        let svg = refused_per_program(&rows);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        // A bar for each nonzero count (3 refused, 3 accepted), and the legend's
        // swatch of each colour.
        assert_eq!(fills(&svg, REFUSED), 3 + 1, "{svg}");
        assert_eq!(fills(&svg, ACCEPTED), 3 + 1, "{svg}");
        let texts = texts(&svg);
        for text in [
            "setsockopt options refused per program",
            "setsockopt calls",
            "program",
            "python3",
            "redis-server",
            "memcached",
            "a&amp;b&lt;c&gt;",
            "4 of 9 refused",
            "0 of 12 refused",
            "3 of 3 refused",
            "1 of 2 refused",
            "refused",
            "accepted",
        ] {
            assert!(texts.contains(&text), "{text} in {texts:?}");
        }
        // Programs top to bottom in the rows' order.
        let y = |name: &str| {
            let at = svg.find(&format!("\n{name}\n</text>")).unwrap();
            let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
            let y = tag.split("y=\"").nth(1).unwrap().split('"').next().unwrap();
            y.parse::<i32>().unwrap()
        };
        assert!(y("python3") < y("redis-server"));
        assert!(y("memcached") < y("a&amp;b&lt;c&gt;"));
        // Text stays text: no glyphs drawn as paths, so no fonts were needed.
        assert!(!svg.contains("<path"), "{svg}");
    }

    #[test]
    fn one_program_none_and_a_long_name() {
        let svg = refused_per_program(&[("curl".into(), 2, 0)]);
        assert!(texts(&svg).contains(&"curl"));
        assert_eq!(fills(&svg, REFUSED), 1 + 1);
        assert_eq!(fills(&svg, ACCEPTED), 1);
        let svg = refused_per_program(&[]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(texts(&svg).contains(&"no setsockopt calls"));
        let svg = refused_per_program(&[("x".repeat(100), 1, 1)]);
        let short = format!("{}…", "x".repeat(NAME_CHARS - 1));
        assert!(texts(&svg).contains(&short.as_str()), "{svg}");
    }
}
