//! Apache Kafka clusters for the interop tests, run by `scripts/kafka`.
//!
//! [`KafkaCluster::start`] starts a fresh cluster of real Kafka brokers on
//! loopback (one combined broker and controller, or a controller and three
//! brokers) and stops it when dropped; a test that panics also gets the tail
//! of every node's log on stderr. [`KafkaCluster::shared`] is one
//! single-broker cluster for the whole test binary, for tests that only
//! produce and consume.
//!
//! The script ties every cluster to this process (`--watch`): when the test
//! binary exits, even by a crash or `SIGKILL`, the cluster stops itself
//! within a few seconds, so no JVM outlives the run.
//!
//! Kafka has to be installed once with `scripts/kafka install` (Maven,
//! under a minute on a fresh machine); without it, starting a cluster
//! panics with that command, so a test that needs Kafka fails and says how
//! to get it rather than being skipped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The SASL user the tests authenticate as (PLAIN, SCRAM-SHA-256 and
/// SCRAM-SHA-512); its principal is `User:alice`.
pub const SASL_USER: &str = "alice";
/// [`SASL_USER`]'s password.
pub const SASL_PASSWORD: &str = "alice-secret";
/// A second SASL user, a super user when the authorizer is on.
pub const ADMIN_USER: &str = "admin";
/// [`ADMIN_USER`]'s password.
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// The principal of a client on PLAINTEXT, or on SSL without a certificate.
pub const ANONYMOUS_PRINCIPAL: &str = "User:ANONYMOUS";
/// The principal of a client presenting [`KafkaCluster::client_cert`].
pub const CLIENT_CERT_PRINCIPAL: &str = "User:CN=kpp-client";
/// The node id of the controller in a three-broker cluster (brokers are
/// 1, 2 and 3; a single-broker cluster's one node is 1).
pub const CONTROLLER_NODE: u32 = 0;

/// What [`KafkaCluster::start`] starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KafkaOptions {
    /// 1: one node that is broker and controller (node 1). 3: a controller
    /// (node 0) and brokers 1, 2 and 3, so two brokers can be down while
    /// the cluster lives; topics get replication factor 3 by default.
    pub brokers: u32,
    /// A SASL_PLAINTEXT listener (and SASL_SSL with `ssl`): PLAIN,
    /// SCRAM-SHA-256, SCRAM-SHA-512 and unsecured OAUTHBEARER, users
    /// [`SASL_USER`] and [`ADMIN_USER`].
    pub sasl: bool,
    /// An SSL listener (and SASL_SSL with `sasl`), with a CA and broker and
    /// client certificates made at start.
    pub ssl: bool,
    /// The StandardAuthorizer, allowing everything that no ACL denies; see
    /// [`KafkaCluster::deny`].
    pub authorizer: bool,
    /// Lines added to every node's `server.properties`, for example
    /// `("connections.max.reauth.ms", "5000")` (KIP-368 re-authentication,
    /// off by default) or `("message.max.bytes", "2000000")`.
    pub broker_configs: &'static [(&'static str, &'static str)],
}

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            brokers: 1,
            sasl: false,
            ssl: false,
            authorizer: false,
            broker_configs: &[],
        }
    }
}

/// A running Kafka cluster, stopped on drop.
#[derive(Debug)]
pub struct KafkaCluster {
    options: KafkaOptions,
    dir: PathBuf,
    bootstrap: String,
    sasl_plaintext: Option<String>,
    ssl: Option<String>,
    sasl_ssl: Option<String>,
    ca: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

/// `scripts/kafka` of the repository this crate is in.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka")
}

fn try_run(args: &[&str]) -> std::io::Result<Output> {
    Command::new(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
}

fn run(args: &[&str]) -> Output {
    try_run(args)
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e}", script().display(), args.join(" ")))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl KafkaCluster {
    /// Starts a fresh cluster and waits until every broker answers.
    ///
    /// # Panics
    ///
    /// When Kafka is not installed (the message says to run
    /// `scripts/kafka install`), or the cluster does not come up (the
    /// message has the script's explanation and the end of the logs).
    pub fn start(options: KafkaOptions) -> KafkaCluster {
        assert!(
            options.brokers == 1 || options.brokers == 3,
            "a Kafka cluster has 1 or 3 brokers, not {}",
            options.brokers
        );
        let brokers = options.brokers.to_string();
        let pid = std::process::id().to_string();
        let configs: Vec<String> = options
            .broker_configs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut args = vec!["start", "--brokers", &brokers, "--watch", &pid];
        for (on, flag) in [
            (options.sasl, "--sasl"),
            (options.ssl, "--ssl"),
            (options.authorizer, "--authorizer"),
        ] {
            if on {
                args.push(flag);
            }
        }
        for config in &configs {
            args.extend(["--config", config]);
        }
        let out = run(&args);
        let stderr = text(&out.stderr);
        if !out.status.success() {
            if stderr.contains("not installed") {
                panic!(
                    "Apache Kafka is not installed, and this test needs it. \
                     Run `scripts/kafka install` (Maven Central; under a minute), then rerun.\n{stderr}"
                );
            }
            panic!(
                "scripts/kafka {} failed ({}):\n{stderr}",
                args.join(" "),
                out.status
            );
        }
        KafkaCluster::parse(options, &text(&out.stdout)).unwrap_or_else(|e| {
            panic!(
                "scripts/kafka start: {e}; it printed:\n{}{stderr}",
                text(&out.stdout)
            )
        })
    }

    /// Reads the `KEY value` lines `scripts/kafka start` prints.
    fn parse(options: KafkaOptions, stdout: &str) -> Result<KafkaCluster, String> {
        let mut dir = None;
        let mut bootstrap = None;
        let mut cluster = KafkaCluster {
            options,
            dir: PathBuf::new(),
            bootstrap: String::new(),
            sasl_plaintext: None,
            ssl: None,
            sasl_ssl: None,
            ca: None,
            client_cert: None,
            client_key: None,
        };
        for line in stdout.lines() {
            let Some((key, value)) = line.split_once(' ') else {
                continue;
            };
            let value = value.trim().to_owned();
            match key {
                "DIR" => dir = Some(PathBuf::from(value)),
                "BOOTSTRAP" => bootstrap = Some(value),
                "SASL_PLAINTEXT" => cluster.sasl_plaintext = Some(value),
                "SSL" => cluster.ssl = Some(value),
                "SASL_SSL" => cluster.sasl_ssl = Some(value),
                "CA" => cluster.ca = Some(value.into()),
                "CLIENT_CERT" => cluster.client_cert = Some(value.into()),
                "CLIENT_KEY" => cluster.client_key = Some(value.into()),
                _ => {}
            }
        }
        // From here on the cluster is ours: dropping it stops it, even
        // when a check below fails.
        cluster.dir = dir.ok_or("no DIR line")?;
        cluster.bootstrap = bootstrap.ok_or("no BOOTSTRAP line")?;
        let want = |on: bool, have: bool, what: &str| {
            if on && !have {
                Err(format!("no {what} line"))
            } else {
                Ok(())
            }
        };
        want(
            options.sasl,
            cluster.sasl_plaintext.is_some(),
            "SASL_PLAINTEXT",
        )?;
        want(options.ssl, cluster.ssl.is_some(), "SSL")?;
        want(options.ssl, cluster.ca.is_some(), "CA")?;
        want(
            options.sasl && options.ssl,
            cluster.sasl_ssl.is_some(),
            "SASL_SSL",
        )?;
        let listed = cluster.bootstrap.split(',').count();
        if listed != options.brokers as usize {
            return Err(format!(
                "BOOTSTRAP lists {listed} brokers, not {}",
                options.brokers
            ));
        }
        Ok(cluster)
    }

    /// One single-broker cluster for the whole test binary, started on
    /// first use, with SASL and SSL listeners as well (they cost nothing
    /// when unused). For tests that do not stop, kill or reconfigure
    /// brokers and use topics of their own; it is never dropped, and stops
    /// itself when the test binary exits.
    pub fn shared() -> &'static KafkaCluster {
        static SHARED: OnceLock<KafkaCluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            KafkaCluster::start(KafkaOptions {
                brokers: 1,
                sasl: true,
                ssl: true,
                authorizer: false,
                broker_configs: &[],
            })
        })
    }

    /// What this cluster was started with.
    pub fn options(&self) -> KafkaOptions {
        self.options
    }

    /// The run directory: each node's config, log and data.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The broker node ids: `[1]`, or `[1, 2, 3]`.
    pub fn broker_ids(&self) -> Vec<u32> {
        (1..=self.options.brokers).collect()
    }

    /// `host:port,...` of every broker's PLAINTEXT listener.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// `host:port` of one broker's PLAINTEXT listener.
    pub fn broker_address(&self, node: u32) -> &str {
        self.bootstrap
            .split(',')
            .nth((node as usize).wrapping_sub(1))
            .unwrap_or_else(|| panic!("no broker {node}; brokers are {:?}", self.broker_ids()))
    }

    fn listener<'a>(&self, value: &'a Option<String>, what: &str, needs: &str) -> &'a str {
        value
            .as_deref()
            .unwrap_or_else(|| panic!("no {what} listener: start the cluster with {needs}"))
    }

    /// `host:port,...` of the SASL_PLAINTEXT listeners.
    pub fn sasl_plaintext(&self) -> &str {
        self.listener(&self.sasl_plaintext, "SASL_PLAINTEXT", "sasl: true")
    }

    /// `host:port,...` of the SSL listeners (a client certificate is
    /// optional; with one, the principal is [`CLIENT_CERT_PRINCIPAL`]).
    pub fn ssl(&self) -> &str {
        self.listener(&self.ssl, "SSL", "ssl: true")
    }

    /// `host:port,...` of the SASL_SSL listeners.
    pub fn sasl_ssl(&self) -> &str {
        self.listener(&self.sasl_ssl, "SASL_SSL", "sasl: true, ssl: true")
    }

    fn pem<'a>(&self, value: &'a Option<PathBuf>) -> &'a Path {
        value
            .as_deref()
            .unwrap_or_else(|| panic!("no certificates: start the cluster with ssl: true"))
    }

    /// The CA certificate (PEM) that signed the broker and client
    /// certificates. The broker certificate names `localhost` and
    /// `127.0.0.1`.
    pub fn ca(&self) -> &Path {
        self.pem(&self.ca)
    }

    /// The client certificate (PEM) for mutual TLS.
    pub fn client_cert(&self) -> &Path {
        self.pem(&self.client_cert)
    }

    /// The client certificate's private key (PEM, PKCS#8, unencrypted).
    pub fn client_key(&self) -> &Path {
        self.pem(&self.client_key)
    }

    fn script(&self, args: &[&str]) -> Result<String, String> {
        let out = try_run(args).map_err(|e| format!("cannot run {}: {e}", script().display()))?;
        if out.status.success() {
            Ok(text(&out.stdout))
        } else {
            Err(format!(
                "scripts/kafka {} failed ({}):\n{}{}",
                args.join(" "),
                out.status,
                text(&out.stdout),
                text(&out.stderr)
            ))
        }
    }

    fn dir_str(&self) -> &str {
        self.dir.to_str().expect("the run directory is UTF-8")
    }

    /// Creates a topic with the given topic configs (for example
    /// `("min.insync.replicas", "2")`), and returns once every running
    /// broker knows a leader for each of its partitions.
    ///
    /// # Panics
    ///
    /// When the broker refuses it (the message carries its error code).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
    ) {
        let partitions = partitions.to_string();
        let rf = replication_factor.to_string();
        let configs: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["topic", self.dir_str(), name, &partitions, &rf];
        args.extend(configs.iter().map(String::as_str));
        if let Err(e) = self.script(&args) {
            panic!("{e}");
        }
    }

    /// Kills one node with SIGKILL (no shutdown, as a crash).
    pub fn kill(&self, node: u32) {
        let node = node.to_string();
        if let Err(e) = self.script(&["kill", self.dir_str(), &node]) {
            panic!("{e}");
        }
    }

    /// Starts a killed node again (or stops and starts a running one) and
    /// returns once it is back in the cluster: a broker once it lists itself
    /// as a live broker in Metadata, that is, once the controller unfenced it.
    pub fn restart(&self, node: u32) {
        let node = node.to_string();
        if let Err(e) = self.script(&["restart", self.dir_str(), &node]) {
            panic!("{e}");
        }
    }

    /// Runs one of Kafka's own tools against this cluster, with
    /// `--bootstrap-server` filled in, and returns what it printed. Returns
    /// once every running broker has applied what the tool changed (ACLs,
    /// quotas and configs otherwise reach brokers a moment later).
    ///
    /// `tool`: topics, configs, acls, leader-election, reassign-partitions,
    /// features, transactions, consumer-groups, metadata-quorum,
    /// broker-api-versions, log-dirs, delete-records, get-offsets,
    /// console-producer or console-consumer. For example
    /// `admin("configs", &["--alter", "--entity-type", "clients",
    /// "--entity-name", "me", "--add-config", "producer_byte_rate=1024"])`.
    ///
    /// # Panics
    ///
    /// When the tool fails; [`KafkaCluster::try_admin`] returns the error.
    pub fn admin(&self, tool: &str, args: &[&str]) -> String {
        self.try_admin(tool, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`KafkaCluster::admin`], returning the tool's output on failure
    /// instead of panicking.
    pub fn try_admin(&self, tool: &str, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["admin", self.dir_str(), tool];
        all.extend_from_slice(args);
        self.script(&all)
    }

    /// Makes `principal` (for example [`ANONYMOUS_PRINCIPAL`] or
    /// `User:alice`) fail `operation` (for example `Write`, for
    /// TOPIC_AUTHORIZATION_FAILED on Produce) on `topic`, while every other
    /// principal and operation stays allowed. Needs `authorizer: true`.
    /// Returns once every running broker enforces it.
    pub fn deny(&self, principal: &str, operation: &str, topic: &str) {
        assert!(
            self.options.authorizer,
            "ACLs need a cluster started with authorizer: true"
        );
        // An ACL on a topic ends allow.everyone.if.no.acl.found for that
        // topic, so everyone is allowed explicitly first; DENY wins over it.
        self.admin(
            "acls",
            &[
                "--add",
                "--allow-principal",
                "User:*",
                "--operation",
                "All",
                "--topic",
                topic,
            ],
        );
        self.admin(
            "acls",
            &[
                "--add",
                "--deny-principal",
                principal,
                "--operation",
                operation,
                "--topic",
                topic,
            ],
        );
    }

    /// The last lines of every node's log.
    pub fn logs(&self) -> String {
        match self.script(&["logs", self.dir_str(), "60"]) {
            Ok(logs) => logs,
            Err(e) => e,
        }
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        if self.dir.as_os_str().is_empty() {
            return; // `parse` failed before the cluster was known
        }
        let panicking = std::thread::panicking();
        let dir = self.dir.to_string_lossy().into_owned();
        if panicking {
            let mut report = format!("\n---- Kafka logs ({dir}), the test failed ----\n");
            report.push_str(&self.logs());
            let _ = writeln!(
                report,
                "---- end of Kafka logs; configs and logs kept in {dir} ----"
            );
            eprintln!("{report}");
        }
        let args: &[&str] = if panicking {
            &["stop", &dir, "--keep"]
        } else {
            &["stop", &dir]
        };
        // No panic in drop: the watcher stops the cluster anyway when the
        // test binary exits.
        match try_run(args) {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("scripts/kafka stop {dir} failed: {}", text(&out.stderr)),
            Err(e) => eprintln!("cannot run {}: {e}", script().display()),
        }
    }
}
