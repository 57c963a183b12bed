//! Where LibreOffice is to be found: a setting of the server (`--libreoffice`) and of
//! `trustyconvert doctor`.

use std::path::PathBuf;

/// Where to find LibreOffice, which converts office documents: `auto` looks for
/// `soffice` (then `libreoffice`) on the `PATH`, `off` never uses it, anything else
/// is the program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LibreOfficeSetting {
    /// Look on the `PATH`.
    Auto,
    /// Never offer office conversions.
    Off,
    /// This program (a path, or a name looked up on the `PATH`).
    Program(PathBuf),
}

impl std::fmt::Display for LibreOfficeSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Off => f.write_str("off"),
            Self::Program(path) => write!(f, "{}", path.display()),
        }
    }
}

impl std::str::FromStr for LibreOfficeSetting {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim() {
            "" => Err("expected auto, off or the path of soffice".to_owned()),
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            program => Ok(Self::Program(PathBuf::from(program))),
        }
    }
}
