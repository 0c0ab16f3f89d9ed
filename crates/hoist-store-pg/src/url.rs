//! Showing a database URL without its password.

/// `url` with its password (in the user part or a `password=` parameter) replaced by
/// `***`, for errors and logs.
pub fn redact(url: &str) -> String {
    let mut shown = url.to_string();
    if let Some(scheme_end) = shown.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = shown[authority_start..]
            .find(['/', '?', '#'])
            .map_or(shown.len(), |i| authority_start + i);
        if let Some(at) = shown[authority_start..authority_end].rfind('@') {
            let userinfo = &shown[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = authority_start + colon + 1;
                shown.replace_range(start..authority_start + at, "***");
            }
        }
    }
    redact_parameter(&shown)
}

/// Replaces the value of every `password=` parameter (`?password=...&` or `password=...`
/// in the key=value form).
fn redact_parameter(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.to_ascii_lowercase().find("password=") {
        let value_start = i + "password=".len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let value_end = rest[value_start..]
            .find(['&', ' ', '#'])
            .map_or(rest.len(), |j| value_start + j);
        rest = &rest[value_end..];
    }
    out.push_str(rest);
    out
}

/// `message` with any password from `url` removed, for errors that might echo it (read
/// from the text, so it works for a URL that does not parse too).
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let mut scrubbed = message.to_string();
    for password in passwords(url) {
        if !password.is_empty() {
            scrubbed = scrubbed.replace(password, "***");
        }
    }
    scrubbed
}

/// The passwords written in `url`: the user part's and any `password=` value.
fn passwords(url: &str) -> Vec<&str> {
    let mut found = Vec::new();
    if let Some(scheme_end) = url.find("://") {
        let authority = &url[scheme_end + 3..];
        let authority = &authority[..authority.find(['/', '?', '#']).unwrap_or(authority.len())];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            found.push(password);
        }
    }
    let lower = url.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password=") {
        let start = from + i + "password=".len();
        let end = url[start..]
            .find(['&', ' ', '#'])
            .map_or(url.len(), |j| start + j);
        found.push(&url[start..end]);
        from = end;
    }
    found
}

/// `postgres://USER@HOST:PORT/DATABASE` from a parsed config: where the store is, as
/// `hoist status` and lock holders show it. Has no password by construction.
pub(crate) fn location(config: &postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                postgres::config::Host::Tcp(name) => name.clone(),
                postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let database = config.get_dbname().unwrap_or(user);
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    format!("postgres://{user}{}/{database}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_in_the_user_part_is_hidden() {
        assert_eq!(
            redact("postgres://hoist:s3cr3t@db.internal:5432/hoist"),
            "postgres://hoist:***@db.internal:5432/hoist"
        );
    }

    #[test]
    fn a_password_with_an_at_sign_is_hidden_whole() {
        assert_eq!(
            redact("postgres://hoist:p@ss@db/hoist"),
            "postgres://hoist:***@db/hoist"
        );
    }

    #[test]
    fn a_password_parameter_is_hidden() {
        assert_eq!(
            redact("postgres://db/hoist?user=hoist&password=s3cr3t&sslmode=require"),
            "postgres://db/hoist?user=hoist&password=***&sslmode=require"
        );
        assert_eq!(
            redact("host=db password=s3cr3t user=hoist"),
            "host=db password=*** user=hoist"
        );
    }

    #[test]
    fn a_url_without_a_password_is_unchanged() {
        assert_eq!(
            redact("postgres://hoist@db/hoist"),
            "postgres://hoist@db/hoist"
        );
    }

    #[test]
    fn the_location_names_user_host_port_and_database_only() {
        let config: postgres::Config = "postgres://hoist:s3cr3t@db.internal:5433/team"
            .parse()
            .unwrap();
        assert_eq!(location(&config), "postgres://hoist@db.internal:5433/team");
    }

    #[test]
    fn scrub_removes_the_password_from_a_message() {
        assert_eq!(
            scrub(
                "password s3cr3t was refused",
                "postgres://hoist:s3cr3t@db/hoist"
            ),
            "password *** was refused"
        );
    }
}
