//! Separate debug information and the DWARF of a module (see `symbols`' module
//! docs for the order): the debug file by build-id or `.gnu_debuglink`, a `dwz`
//! supplementary file, and the DWARF sections copied out for `addr2line`.

use super::Reader;
use object::{Object, ObjectSection};
use std::path::Path;
use std::rc::Rc;

pub(super) fn has_dwarf(file: &object::File<'_>) -> bool {
    file.section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0 && s.file_range().is_some())
}

/// The separate debug file's contents: by the recorded build-id, else by the
/// module's `.gnu_debuglink` (only if `main` is the file that ran).
pub(super) fn find_debug_file(
    path: &Path,
    recorded: &[u8],
    main: Option<&object::File<'_>>,
    debug_root: &Path,
) -> Option<Vec<u8>> {
    if let Some(data) = by_build_id(recorded, debug_root) {
        return Some(data);
    }
    let (link, crc) = main?.gnu_debuglink().ok().flatten()?;
    let link = Path::new(std::str::from_utf8(link).ok()?);
    let dir = path.parent().unwrap_or(Path::new(""));
    let dir_abs = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf());
    let candidates = [
        dir.join(link),
        dir.join(".debug").join(link),
        debug_root
            .join(dir_abs.strip_prefix("/").unwrap_or(&dir_abs))
            .join(link),
    ];
    candidates.iter().find_map(|candidate| {
        let data = super::read_file(candidate)?;
        (crc32fast::hash(&data) == crc).then_some(data)
    })
}

/// `root/.build-id/xx/rest.debug` for `id`, if that file has that build-id.
fn by_build_id(id: &[u8], root: &Path) -> Option<Vec<u8>> {
    let (first, rest) = id.split_first()?;
    let hex: String = rest.iter().map(|b| format!("{b:02x}")).collect();
    let file = root
        .join(".build-id")
        .join(format!("{first:02x}"))
        .join(format!("{hex}.debug"));
    if_build_id(super::read_file(&file)?, id)
}

/// `data`, if it is an object file whose build-id is `id`.
fn if_build_id(data: Vec<u8>, id: &[u8]) -> Option<Vec<u8>> {
    let same = object::File::parse(&*data)
        .ok()
        .and_then(|f| f.build_id().ok().flatten().map(|b| b == id))
        .unwrap_or(false);
    same.then_some(data)
}

/// An addr2line context for `file`'s DWARF, with its `dwz` supplementary file if it
/// names one (`.gnu_debugaltlink`) and that is found.
pub(super) fn load_dwarf(
    file: &object::File<'_>,
    path: &Path,
    debug_root: &Path,
) -> Option<addr2line::Context<Reader>> {
    let mut dwarf = dwarf_sections(file)?;
    if let Ok(Some((alt, id))) = file.gnu_debugaltlink() {
        let alt = std::str::from_utf8(alt).ok().map(Path::new);
        let sup = by_build_id(id, debug_root).or_else(|| {
            // As named: absolute (Debian's), else beside the module.
            let dir = path.parent().unwrap_or(Path::new(""));
            if_build_id(super::read_file(&dir.join(alt?))?, id)
        });
        if let Some(sup) = sup.as_deref().and_then(|d| object::File::parse(d).ok())
            && let Some(sup) = dwarf_sections(&sup)
        {
            dwarf.set_sup(sup);
        }
    }
    addr2line::Context::from_dwarf(dwarf).ok()
}

/// `file`'s DWARF sections, copied out (decompressed if need be).
fn dwarf_sections(file: &object::File<'_>) -> Option<gimli::Dwarf<Reader>> {
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or_default();
        Ok(Reader::new(Rc::from(&*data), endian))
    };
    gimli::Dwarf::load(load).ok()
}
