//! Who acts: one identity type used in every record (audit entries, list entries, policy
//! versions, grants), spelled one way.

use std::fmt;

use shopguard_core::rbac::{self, Scope};

/// Who did something.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    /// An API key: its id (unique) and its name.
    ApiKey {
        /// Key id.
        id: String,
        /// Key name.
        name: String,
    },
    /// A person logged in with password and TOTP.
    Operator {
        /// Username.
        username: String,
    },
    /// The command line, run by this operating-system user.
    Cli {
        /// The `USER` that ran it.
        user: String,
    },
    /// shopguard itself (start-up, maintenance).
    System,
}

impl Actor {
    /// The command-line actor for the user running this process.
    pub fn cli() -> Actor {
        Actor::Cli {
            user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        }
    }

    /// The operator's username, when the actor is a person logged in.
    pub fn operator(&self) -> Option<&str> {
        match self {
            Actor::Operator { username } => Some(username),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    /// `key:<id>:<name>`, `operator:<username>`, `cli:<user>` or `system`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::ApiKey { id, name } => write!(f, "key:{id}:{name}"),
            Actor::Operator { username } => write!(f, "operator:{username}"),
            Actor::Cli { user } => write!(f, "cli:{user}"),
            Actor::System => f.write_str("system"),
        }
    }
}

impl std::str::FromStr for Actor {
    type Err = String;

    /// Reads an actor as [`fmt::Display`] spells it (a task's stored requester).
    fn from_str(text: &str) -> Result<Actor, String> {
        if text == "system" {
            return Ok(Actor::System);
        }
        let unknown = || format!("not an actor: '{text}'");
        let (kind, rest) = text.split_once(':').ok_or_else(unknown)?;
        match kind {
            "key" => {
                let (id, name) = rest.split_once(':').ok_or_else(unknown)?;
                Ok(Actor::ApiKey {
                    id: id.to_owned(),
                    name: name.to_owned(),
                })
            }
            "operator" => Ok(Actor::Operator {
                username: rest.to_owned(),
            }),
            "cli" => Ok(Actor::Cli {
                user: rest.to_owned(),
            }),
            _ => Err(unknown()),
        }
    }
}

/// An authenticated caller: who, and the scopes they hold now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Who.
    pub actor: Actor,
    /// The actor spelled out once (`key:<id>:<name>`, ...), for rate limits and logs.
    pub id: String,
    /// Scopes held now (for an operator: standing roles plus approved, unexpired grants).
    pub scopes: Vec<Scope>,
    /// The operator session the request came with; `None` for API keys, the command line
    /// and shopguard itself.
    pub session_id: Option<String>,
}

impl Principal {
    /// A principal for `actor` holding `scopes`.
    pub fn new(actor: Actor, scopes: Vec<Scope>) -> Principal {
        Principal {
            id: actor.to_string(),
            actor,
            scopes,
            session_id: None,
        }
    }

    /// The principal of a request that came with operator session `session_id`.
    pub fn with_session(mut self, session_id: impl Into<String>) -> Principal {
        self.session_id = Some(session_id.into());
        self
    }

    /// Whether the principal holds `scope` (admin holds every scope).
    pub fn grants(&self, scope: Scope) -> bool {
        rbac::grants(&self.scopes, scope)
    }

    /// A principal with every scope, for the command line run by someone who can read the
    /// data folder (and so could do anything anyway).
    pub fn cli() -> Principal {
        Principal::new(Actor::cli(), vec![Scope::Admin])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_actor_is_spelled_one_way() {
        let key = Actor::ApiKey {
            id: "k1".into(),
            name: "checkout".into(),
        };
        assert_eq!(key.to_string(), "key:k1:checkout");
        let operator = Actor::Operator {
            username: "ana".into(),
        };
        assert_eq!(operator.to_string(), "operator:ana");
        assert_eq!(operator.operator(), Some("ana"));
        assert_eq!(Actor::System.to_string(), "system");
        assert_eq!(
            Actor::Cli {
                user: "root".into()
            }
            .to_string(),
            "cli:root"
        );
    }

    #[test]
    fn an_actor_reads_back_as_it_is_spelled() {
        for actor in [
            Actor::ApiKey {
                id: "k1".into(),
                name: "feed:nightly".into(),
            },
            Actor::Operator {
                username: "ana".into(),
            },
            Actor::Cli {
                user: "root".into(),
            },
            Actor::System,
        ] {
            assert_eq!(actor.to_string().parse::<Actor>(), Ok(actor));
        }
        assert!("someone".parse::<Actor>().is_err());
        assert!("key:only-id".parse::<Actor>().is_err());
        assert!("robot:x".parse::<Actor>().is_err());
    }
}
