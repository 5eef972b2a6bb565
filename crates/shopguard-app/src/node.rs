//! Opening a node: the backend the configuration names, the engine with its lists, policy
//! and snapshot, the services; and the timed upkeep a node runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shopguard_core::audit::RecordClass;
use shopguard_core::lists::{EntryBounds, ListKey};
use shopguard_core::{Engine, ListRegistry};
use shopguard_storage::audit_log::load_or_create_signing_key;
use shopguard_storage::audit_log::AuditLog;
use shopguard_storage::decision_log::DecisionLog;
use shopguard_storage::decision_segments::SegmentSettings;
use shopguard_storage::embedded::EmbeddedStore;
use shopguard_storage::keyring::LocalMasterKey;
use shopguard_storage::postgres::PostgresStore;
use shopguard_storage::postgres_audit::PostgresAuditLog;
use shopguard_storage::snapshot::{FileSnapshots, SnapshotStore};
use shopguard_storage::{
    AuditLogStore, Backend, ListRecord, NewPolicyVersion, Scope, Store, StoreError,
};

use crate::actor::Actor;
use crate::alerts::AlertService;
use crate::audit::{AuditRetention, AuditService};
use crate::clock::now_ms;
use crate::config::Config;
use crate::data_keys::DataKeyService;
use crate::decisions::DecisionService;
use crate::directory::DirectoryService;
use crate::entities::EntityService;
use crate::incidents::IncidentService;
use crate::keys::KeyService;
use crate::lists::ListService;
use crate::login_limits::LoginLimits;
use crate::operators::OperatorService;
use crate::playbooks::PlaybookService;
use crate::policies::PolicyService;
use crate::scheduler::{Scheduler, TimedJob};
use crate::situation::SituationService;
use crate::tasks::{TaskService, TASK_WORKERS};

/// Why a node could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data folder or database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The policy (file or stored) does not compile or its fixtures fail.
    #[error("policy: {0}")]
    Policy(#[from] shopguard_core::PolicyError),
    /// The policy file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    PolicyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A setting is out of range.
    #[error("configuration: {0}")]
    Config(String),
    /// The engine snapshot cannot be read: the node refuses to start rather than silently
    /// forget every velocity count and profile.
    #[error("cannot load the engine snapshot {file}: {source}; move it aside (mv {file} {file}.unreadable) to start with empty velocity counts and profiles, or run a build that reads it", file = .path.display())]
    Snapshot {
        /// Where it is.
        path: PathBuf,
        /// Why it cannot be read.
        source: shopguard_core::engine::SnapshotError,
    },
    /// A service failed while the node opened.
    #[error(transparent)]
    Service(#[from] crate::ServiceError),
}

/// A node's services over one backend.
pub struct App {
    /// Settings.
    pub config: Arc<Config>,
    /// The decision engine.
    pub engine: Arc<Engine>,
    /// Audit entries, the outbox, verification.
    pub audit: Arc<AuditService>,
    /// Policies.
    pub policies: PolicyService,
    /// Lists.
    pub lists: ListService,
    /// API keys.
    pub keys: KeyService,
    /// Operators, sessions, grants.
    pub operators: OperatorService,
    /// Data keys.
    pub data_keys: DataKeyService,
    /// Decisions (absent for administrative tools).
    pub decisions: Option<DecisionService>,
    /// The alert queue: triage of the alerts rules raise.
    pub alerts: AlertService,
    /// One entity now: a user's profile, velocity values.
    pub entities: EntityService,
    /// The situation's history, per node and minute.
    pub situation: SituationService,
    /// Incident management: the security-event database (DB33/T 978-2015).
    pub incidents: IncidentService,
    /// The security organisation's directory.
    pub directory: DirectoryService,
    /// Response playbooks.
    pub playbooks: PlaybookService,
    /// Durable tasks (run only by a serving node's workers).
    pub tasks: TaskService,
    store: Arc<dyn Store>,
    snapshots: Arc<dyn SnapshotStore>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What a node's services are assembled from.
struct Parts {
    config: Arc<Config>,
    /// The last list change the loaded lists reflect.
    list_changes_followed: i64,
    store: Arc<dyn Store>,
    snapshots: Arc<dyn SnapshotStore>,
    audit_log: Option<Arc<dyn AuditLogStore>>,
    engine: Arc<Engine>,
    log: Option<Arc<DecisionLog>>,
}

/// A node just opened, and where its first admin key was written, on first start.
#[derive(Debug)]
pub struct Opened {
    /// The services.
    pub app: Arc<App>,
    /// The bootstrap admin key's file, on first start.
    pub bootstrap_key_file: Option<PathBuf>,
}

/// The file where the first admin key is written.
pub fn bootstrap_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-api-key")
}

fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

fn retention_of(config: &Config) -> AuditRetention {
    AuditRetention {
        default_days: config.audit_retention_days,
        by_class: config.audit_retention_days_by_class.clone(),
    }
}

/// How long the list change feed is kept: far longer than a running node takes to read it
/// (a second), and a node that was away longer loads the lists whole at its start.
const LIST_CHANGES_KEPT_MS: i64 = 3_600_000;

/// The policy of an engine opened only for administration: it decides nothing.
const OFFLINE_POLICY: &str = "[policy]\nname = \"offline\"\n";

fn offline_engine() -> Result<Arc<Engine>, OpenError> {
    Ok(Arc::new(Engine::new(
        OFFLINE_POLICY,
        0,
        Arc::new(ListRegistry::new()),
    )?))
}

/// Loads every stored list's unexpired entries into `registry`; returns how many.
fn load_lists(store: &dyn Store, registry: &ListRegistry, now: i64) -> Result<usize, OpenError> {
    let mut loaded = 0;
    for record in store.lists()? {
        let list = registry
            .ensure(&record.name, record.kind)
            .map_err(|error| {
                OpenError::Config(format!("stored list '{}': {error}", record.name))
            })?;
        store.for_each_list_entry(&record.name, now, &mut |batch| {
            let entries = batch.iter().filter_map(|entry| {
                let key: ListKey = record.kind.normalize(&entry.value).ok()?;
                Some((
                    key,
                    entry.expires_at_ms.unwrap_or(shopguard_core::lists::NEVER),
                ))
            });
            loaded += list.insert_many(entries);
        })?;
    }
    Ok(loaded)
}

impl App {
    /// Opens the configured backend for serving: the embedded one in the data folder, or
    /// PostgreSQL; decision log, audit log and snapshots included.
    fn open_backend(config: &Config) -> Result<Backend, OpenError> {
        if let Some(url) = &config.database_url {
            return App::open_postgres(config, url);
        }
        let store = Arc::new(EmbeddedStore::open_with(
            &config.data_dir,
            SegmentSettings {
                segment_bytes: config.decision_segment_mib * 1024 * 1024,
                sync_each_batch: config.decision_log_fsync,
            },
        )?);
        let audit: Arc<dyn AuditLogStore> = Arc::new(AuditLog::open(&config.data_dir)?);
        Ok(Backend {
            store,
            audit,
            snapshots: Arc::new(FileSnapshots::new(&config.data_dir)),
        })
    }

    /// The PostgreSQL backend: every aggregate, the tasks, the schedule and the audit log in
    /// the database; only the secrets in the data folder.
    fn open_postgres(config: &Config, url: &str) -> Result<Backend, OpenError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StoreError::Io {
            operation: "creating the data folder",
            source,
        })?;
        let master = Box::new(LocalMasterKey::load(&config.data_dir)?);
        let store = Arc::new(PostgresStore::open(url, &config.database_schema, master)?);
        let signing_key = load_or_create_signing_key(&config.data_dir)?;
        // The log and the store share the schema: the log moves the outbox itself.
        let audit: Arc<dyn AuditLogStore> = Arc::new(
            PostgresAuditLog::open(url, &config.database_schema, signing_key)?.with_outbox(),
        );
        Ok(Backend {
            snapshots: Arc::new(store.snapshots(&config.node_name())),
            store,
            audit,
        })
    }

    fn assemble(parts: Parts) -> App {
        let Parts {
            config,
            list_changes_followed,
            store,
            snapshots,
            audit_log,
            engine,
            log,
        } = parts;
        let outbox: Arc<dyn shopguard_storage::AuditOutbox> = store.clone();
        let audit = Arc::new(
            AuditService::new(audit_log, outbox, retention_of(&config))
                .with_checkpoint_every(config.audit_checkpoint_every_entries),
        );
        App {
            policies: PolicyService::new(
                engine.clone(),
                store.clone(),
                audit.clone(),
                config.require_rule_approval,
            ),
            lists: ListService::new(
                engine.clone(),
                store.clone(),
                audit.clone(),
                list_changes_followed,
            )
            .with_entry_bounds(EntryBounds {
                min_ipv4_prefix: config.list_min_ipv4_prefix,
                min_ipv6_prefix: config.list_min_ipv6_prefix,
            }),
            keys: KeyService::new(store.clone(), audit.clone()),
            operators: OperatorService::new(
                store.clone(),
                audit.clone(),
                config.operator_session_hours,
                LoginLimits {
                    attempts_per_username: config.login_attempts_per_username_per_minute,
                    failures_per_address: config.login_failures_per_address_per_minute,
                    failures_per_node: config.login_failures_per_minute,
                },
            )
            .with_idle_minutes(config.session_idle_minutes),
            data_keys: DataKeyService::new(store.clone(), audit.clone()),
            decisions: log.map(|log| {
                DecisionService::new(
                    engine.clone(),
                    store.clone(),
                    log,
                    audit.clone(),
                    config.decision_ack,
                )
            }),
            tasks: TaskService::new(store.clone(), audit.clone(), &config.node_name()),
            alerts: AlertService::new(store.clone(), audit.clone()),
            entities: EntityService::new(engine.clone()),
            situation: SituationService::new(store.clone(), config.node_name()),
            incidents: IncidentService::new(store.clone(), audit.clone(), config.incident_grading),
            directory: DirectoryService::new(store.clone(), audit.clone()),
            playbooks: PlaybookService::new(store.clone(), audit.clone()),
            audit,
            engine,
            config,
            store,
            snapshots,
        }
    }

    /// Opens a node for serving. `default_policy` is used when nothing is stored and no
    /// policy file is configured.
    pub fn open(config: Config, default_policy: &str) -> Result<Opened, OpenError> {
        config.validate().map_err(OpenError::Config)?;
        let now = now_ms();
        let backend = App::open_backend(&config)?;
        let store = backend.store.clone();

        let registry = Arc::new(ListRegistry::new());
        // Read before the lists are loaded: a change made meanwhile is applied again by
        // the first sync, which changes nothing when it was loaded already.
        let followed = store.last_list_change()?;
        let entries = load_lists(store.as_ref(), &registry, now)?;

        let from_file = match &config.policy_file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| OpenError::PolicyFile {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        // The first steps run before the services exist; their audit entries go through the
        // outbox all the same, and are moved in once the audit service is up.
        let system = Actor::System;
        let entry = |action: &str, object: String, detail: serde_json::Value| {
            AuditService::entry_at(
                now,
                RecordClass::Configuration,
                &system,
                action,
                object,
                detail,
            )
        };
        let store_new = |source: String, comment: &str| -> Result<(String, u64), OpenError> {
            // Refused before it is stored: a policy that does not compile or fails its
            // fixtures never goes live.
            shopguard_core::check_policy(&source)?;
            let live = store.active_policy()?.map(|live| live.version);
            let version = store.insert_policy_version(
                &NewPolicyVersion {
                    source: &source,
                    author: "system",
                    comment,
                    at_ms: now,
                    pending_approval: false,
                },
                &|version| {
                    entry(
                        "policy.store",
                        format!("policy:{version}"),
                        serde_json::json!({ "comment": comment }),
                    )
                },
            )?;
            let activated = store.activate_policy_version(
                version,
                live,
                "system",
                now,
                &entry(
                    "policy.activate",
                    format!("policy:{version}"),
                    serde_json::json!({ "previous": live }),
                ),
            )?;
            if !activated {
                return Err(OpenError::Config(
                    "the live policy changed while this node started; start it again".into(),
                ));
            }
            Ok((source, version))
        };
        let (source, version) = match (store.active_policy()?, from_file) {
            (Some(active), Some(file)) if active.source == file => (active.source, active.version),
            (_, Some(file)) => store_new(file, "loaded from the policy file at start")?,
            (Some(active), None) => (active.source, active.version),
            (None, None) => store_new(default_policy.to_owned(), "shipped default policy")?,
        };
        let engine = Arc::new(Engine::new(&source, version, registry.clone())?);
        engine.set_allowed_lateness_ms(
            i64::try_from(config.allowed_lateness_seconds.saturating_mul(1_000))
                .unwrap_or(i64::MAX),
        );
        for list in registry.all() {
            store.ensure_list(
                &ListRecord {
                    name: list.name().to_owned(),
                    kind: list.kind(),
                    description: String::new(),
                    created_at_ms: now,
                },
                &entry(
                    "list.create",
                    format!("list:{}", list.name()),
                    serde_json::json!({ "kind": list.kind().as_str(), "named_by_policy": version }),
                ),
            )?;
        }
        if let Some(bytes) = backend.snapshots.read_snapshot()? {
            engine
                .restore(&bytes)
                .map_err(|source| OpenError::Snapshot {
                    path: shopguard_storage::snapshot::snapshot_path(&config.data_dir),
                    source,
                })?;
        }
        let sealer = store.keyring().ok();
        let log = Arc::new(DecisionLog::start(
            store.clone(),
            sealer,
            config.log_queue_capacity,
        ));
        let config = Arc::new(config);
        let app = App::assemble(Parts {
            config: config.clone(),
            list_changes_followed: followed,
            store,
            snapshots: backend.snapshots,
            audit_log: Some(backend.audit),
            engine,
            log: Some(log),
        });
        app.audit.drain()?;
        app.tasks.resume_interrupted()?;

        let bootstrap_key_file = if app.keys.any()? {
            None
        } else {
            let key = app
                .keys
                .create("bootstrap-admin", vec![Scope::Admin], &Actor::System)?;
            let path = bootstrap_key_path(&config.data_dir);
            write_secret_file(&path, &format!("{}\n", key.token)).map_err(|source| {
                StoreError::Io {
                    operation: "writing the bootstrap admin key",
                    source,
                }
            })?;
            Some(path)
        };
        tracing::info!(
            policy_version = version,
            list_entries = entries,
            "engine ready"
        );
        let app = Arc::new(app);
        app.tasks.start_workers(Arc::downgrade(&app), TASK_WORKERS);
        Ok(Opened {
            app,
            bootstrap_key_file,
        })
    }

    /// Opens the data folder for an administrative command (keys, operators), which may run
    /// beside a serving node: no decision log, and the audit log only when no node holds it
    /// (otherwise the command's audit entries wait in the outbox for the node).
    pub fn open_admin(config: Config) -> Result<App, OpenError> {
        if config.database_url.is_some() {
            // On PostgreSQL the audit log takes writers from every node, tools included.
            return App::open_offline(config);
        }
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open_for_administration(&config.data_dir)?);
        let audit_log: Option<Arc<dyn AuditLogStore>> = match AuditLog::open(&config.data_dir) {
            Ok(log) => Some(Arc::new(log)),
            Err(StoreError::Conflict(_)) => None,
            Err(error) => return Err(error.into()),
        };
        let engine = offline_engine()?;
        let snapshots = Arc::new(FileSnapshots::new(&config.data_dir));
        let followed = store.last_list_change()?;
        let app = App::assemble(Parts {
            config: Arc::new(config),
            list_changes_followed: followed,
            store,
            snapshots,
            audit_log,
            engine,
            log: None,
        });
        app.audit.drain()?;
        Ok(app)
    }

    /// Opens a stopped node's data folder with its decision log, for offline work on the
    /// log (re-encryption) through the services.
    pub fn open_offline(config: Config) -> Result<App, OpenError> {
        let backend = App::open_backend(&config)?;
        let engine = offline_engine()?;
        let followed = backend.store.last_list_change()?;
        let app = App::assemble(Parts {
            config: Arc::new(config),
            list_changes_followed: followed,
            store: backend.store,
            snapshots: backend.snapshots,
            audit_log: Some(backend.audit),
            engine,
            log: None,
        });
        app.audit.drain()?;
        Ok(app)
    }

    /// The store (for the maintenance of the node that owns it).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The decision service, or an error for administrative opens.
    pub fn decisions(&self) -> Result<&DecisionService, crate::ServiceError> {
        self.decisions.as_ref().ok_or_else(|| {
            crate::ServiceError::Internal("this node was opened without its decision log".into())
        })
    }

    /// The scheduler of this node's timed work, over the stored schedule, with the
    /// configured intervals, as of `now_ms`. On PostgreSQL the schedule is the
    /// deployment's, shared with the other nodes.
    pub fn scheduler(&self, now_ms: i64) -> Result<Scheduler, crate::ServiceError> {
        let config = &self.config;
        let node = config.node_name();
        let shared_by = config.database_url.is_some().then_some(node.as_str());
        Scheduler::open(
            self.store.clone(),
            &[
                (TimedJob::Retention, Duration::from_secs(3_600)),
                (
                    TimedJob::AuditCheckpoint,
                    Duration::from_secs(config.audit_checkpoint_seconds.max(1)),
                ),
                (
                    TimedJob::Expiry,
                    Duration::from_secs(config.expiry_interval_seconds.max(1)),
                ),
                (
                    TimedJob::Snapshot,
                    Duration::from_secs(config.snapshot_interval_seconds.max(1)),
                ),
                (TimedJob::ProfileRetention, Duration::from_secs(3_600)),
            ],
            now_ms,
            shared_by,
        )
    }

    /// Writes the engine's snapshot.
    pub fn save_snapshot(&self) -> Result<(), OpenError> {
        let bytes = self
            .engine
            .snapshot()
            .map_err(|error| OpenError::Config(format!("engine snapshot: {error}")))?;
        self.snapshots.write_snapshot(&bytes)?;
        Ok(())
    }

    /// Drops this node's profiles idle past the profile retention; returns how many.
    pub fn expire_profiles(&self, now: i64) -> usize {
        let cutoff = now - i64::from(self.config.profile_retention_days) * 86_400_000;
        self.engine.expire_profiles(cutoff)
    }

    /// Deletes decisions, alerts and expired list entries past retention; removes audit
    /// content past its class's retention. Stored data only: on PostgreSQL one node does
    /// it for the deployment ([`App::expire_profiles`] is each node's own).
    pub fn purge_retained(&self, now: i64) -> Result<(usize, usize, u64), OpenError> {
        let cutoff = now - i64::from(self.config.decision_retention_days) * 86_400_000;
        let audit = self.audit.purge_expired(now, &Actor::System)?;
        let situation = self.situation.purge(now)?;
        tracing::debug!(minutes = situation, "purged the situation's history");
        let store = &self.store;
        Ok((
            store.purge_decisions_before(cutoff)?,
            store.purge_expired_list_entries(now, now - LIST_CHANGES_KEPT_MS)?,
            audit,
        ))
    }
}
