//! Loading the server's signing keys from a key file, or generating one once.
//!
//! Key file format: one key per line as 64 hex digits (32 bytes); blank lines and lines
//! starting with `#` are ignored. The first key signs new tokens; every key verifies,
//! so rotation is "put the new key first, keep the old one below it for a while".

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::crypto::{random_bytes, Keyring, KEY_BYTES};

/// Name of the generated key file inside the data directory.
pub const GENERATED_KEY_FILE: &str = "secret.key";

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("cannot access key file {path}: {source}")]
    Io {
        /// The file in question.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is not 64 hex digits.
    #[error("key file {path}, line {line}: expected 64 hex digits (a 32-byte key)")]
    BadLine {
        /// The file in question.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The file has no keys at all.
    #[error("key file {0} contains no keys")]
    Empty(PathBuf),
}

/// Loads the keyring from `key_file`, or from (or into) `data_dir/secret.key`.
pub fn load_or_generate(key_file: Option<&Path>, data_dir: &Path) -> Result<Keyring, KeyError> {
    match key_file {
        Some(path) => read_key_file(path),
        None => {
            let path = data_dir.join(GENERATED_KEY_FILE);
            if !path.exists() {
                generate_key_file(&path)?;
            }
            read_key_file(&path)
        }
    }
}

fn read_key_file(path: &Path) -> Result<Keyring, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = decode_hex32(line).ok_or_else(|| KeyError::BadLine {
            path: path.to_owned(),
            line: index + 1,
        })?;
        keys.push(key);
    }
    Keyring::new(keys).ok_or_else(|| KeyError::Empty(path.to_owned()))
}

/// Writes a fresh key with owner-only permissions. `create_new` makes two servers
/// starting at once agree on one key instead of overwriting each other's.
fn generate_key_file(path: &Path) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        create_private_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(error) => return Err(io(error)),
    };
    let contents = format!(
        "# Session signing key, generated on first start. Keep it secret.\n{}\n",
        encode_hex(&random_bytes::<KEY_BYTES>())
    );
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io)
}

/// `create_dir_all` where every directory created is owner-only (0700 on Unix).
fn create_private_dir_all(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Hex of `bytes`, lower case.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 bytes from 64 hex digits.
pub fn decode_hex32(text: &str) -> Option<[u8; KEY_BYTES]> {
    if text.len() != KEY_BYTES * 2 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; KEY_BYTES];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_reused_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        load_or_generate(None, dir.path()).unwrap();
        let first = std::fs::read_to_string(dir.path().join(GENERATED_KEY_FILE)).unwrap();
        load_or_generate(None, dir.path()).unwrap();
        let second = std::fs::read_to_string(dir.path().join(GENERATED_KEY_FILE)).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn bad_key_file_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("# comment\n{}\nnot-hex\n", "ab".repeat(32))).unwrap();
        let error = load_or_generate(Some(&path), dir.path()).unwrap_err();
        assert!(
            matches!(error, KeyError::BadLine { line: 3, .. }),
            "{error}"
        );
        std::fs::write(&path, "# only a comment\n").unwrap();
        assert!(matches!(
            load_or_generate(Some(&path), dir.path()),
            Err(KeyError::Empty(_))
        ));
    }
}
