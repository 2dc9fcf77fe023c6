//! Reading `/proc/self/maps` (Linux): which mappings exist, with which permissions.
#![allow(dead_code)]

/// One line of `/proc/self/maps`.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub start: usize,
    pub end: usize,
    /// `rwxp`-style permissions.
    pub perms: String,
    /// The file mapped, or "" for anonymous memory (or a `[pseudo]` name).
    pub path: String,
    pub line: String,
}

impl Mapping {
    pub fn writable(&self) -> bool {
        self.perms.as_bytes()[1] == b'w'
    }

    pub fn executable(&self) -> bool {
        self.perms.as_bytes()[2] == b'x'
    }
}

/// The process's mappings now.
pub fn mappings() -> Vec<Mapping> {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("cannot read /proc/self/maps");
    maps.lines()
        .map(|line| {
            // start-end perms offset dev inode path
            let mut fields = line.splitn(6, ' ');
            let range = fields.next().unwrap();
            let perms = fields.next().unwrap().to_owned();
            let path = fields.nth(3).unwrap_or("").trim().to_owned();
            let (start, end) = range.split_once('-').unwrap();
            Mapping {
                start: usize::from_str_radix(start, 16).unwrap(),
                end: usize::from_str_radix(end, 16).unwrap(),
                perms,
                path,
                line: line.to_owned(),
            }
        })
        .collect()
}

/// Panics if any mapping is writable and executable at once.
pub fn assert_no_writable_executable_mapping(context: &str) {
    let offenders: Vec<String> = mappings()
        .into_iter()
        .filter(|m| m.writable() && m.executable())
        .map(|m| m.line)
        .collect();
    assert!(
        offenders.is_empty(),
        "{context}: writable and executable mappings:\n{}",
        offenders.join("\n")
    );
}

/// The mapping that holds `address`.
pub fn mapping_of(address: usize) -> Mapping {
    mappings()
        .into_iter()
        .find(|m| (m.start..m.end).contains(&address))
        .unwrap_or_else(|| panic!("{address:#x} is not mapped"))
}
