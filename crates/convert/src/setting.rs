//! How the engines are set up: where LibreOffice is to be found (`--libreoffice`) and
//! how many LibreOffice instances are kept warm (`--office-pool`).

use std::path::PathBuf;

use crate::office::PoolSettings;

/// Everything [`probe_engines`](crate::probe_engines) needs to know.
///
/// ```
/// use trustyconvert_convert::{EngineSettings, LibreOfficeSetting, PoolSettings};
/// // A server: LibreOffice from the PATH, two instances kept warm.
/// let settings = EngineSettings {
///     libreoffice: LibreOfficeSetting::Auto,
///     office_pool: PoolSettings { size: 2, recycle_after: 200, memory_limit: 1 << 30 },
/// };
/// assert_eq!(EngineSettings::default().office_pool, PoolSettings::COLD);
/// # let _ = settings;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngineSettings {
    /// Where to find LibreOffice.
    pub libreoffice: LibreOfficeSetting,
    /// LibreOffice instances kept running between conversions (none: each conversion
    /// starts it, as a one-off command wants).
    pub office_pool: PoolSettings,
}

impl Default for EngineSettings {
    /// LibreOffice from the `PATH`, started for each conversion.
    fn default() -> Self {
        Self {
            libreoffice: LibreOfficeSetting::Auto,
            office_pool: PoolSettings::COLD,
        }
    }
}

/// Where to find LibreOffice, which converts office documents: `auto` looks for
/// `soffice` (then `libreoffice`) on the `PATH`, `off` never uses it, anything else
/// is the program to run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
