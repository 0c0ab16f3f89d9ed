use thiserror::Error;

/// What went wrong talking to a registry. Messages never carry a credential: the
/// registry's own error text is kept, request headers are not.
#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("`{reference}` is not an image reference: {problem}")]
    Reference { reference: String, problem: String },
    #[error(
        "the registry {registry} refused the credentials{user} ({status}); check the username and password (or token) hoist reads for it"
    )]
    Unauthorized {
        registry: String,
        user: String,
        status: u16,
    },
    #[error("the registry {registry} denied {action}: {message}")]
    Denied {
        registry: String,
        action: String,
        message: String,
    },
    #[error("cannot reach the registry {registry}: {message}")]
    Transport { registry: String, message: String },
    #[error("the registry {registry} answered {status} to {action}: {message}")]
    Status {
        registry: String,
        action: String,
        status: u16,
        message: String,
    },
    #[error("credentials for {registry}: {message}")]
    Credentials { registry: String, message: String },
    #[error("{0}")]
    Invalid(String),
}
