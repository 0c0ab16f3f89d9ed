//! An error with its causes, for messages: many clients (bollard, reqwest, postgres) say
//! only "error performing TLS handshake" or "error sending request" and keep the reason
//! in a source.

/// `error: cause: cause`, each cause once (one already in the text is not repeated).
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layer(text: &'static str, source: Option<Layer>) -> Layer {
        Layer {
            text,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn causes_follow_the_error_once_each() {
        let error = layer(
            "error performing TLS handshake",
            Some(layer(
                "invalid peer certificate: UnknownIssuer",
                Some(layer("UnknownIssuer", None)),
            )),
        );
        assert_eq!(
            with_causes(&error),
            "error performing TLS handshake: invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(with_causes(&layer("alone", None)), "alone");
    }
}
