//! Why a conversion failed.

/// Why a conversion (or the check of its input) failed. Messages are for people.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// The input is not what it claims, or is unusable (reported to the user).
    #[error("{0}")]
    Invalid(String),
    /// The pair is not supported.
    #[error("this conversion is not supported")]
    Unsupported,
    /// The converter failed on valid input.
    #[error("{0}")]
    Failed(String),
    /// The conversion hit a limit (output size, time); the message names it.
    #[error("{0}")]
    Limit(String),
    /// Reading the input failed (an internal problem in a server; never shown in detail).
    #[error("the stored file could not be read")]
    Io(#[source] std::io::Error),
    /// Writing the result failed (an internal problem in a server; never shown in detail).
    #[error("the result could not be stored")]
    Output(#[source] std::io::Error),
}
