//! The `plumbline` command: the operator, the offline audit, the commands
//! people run on exceptions (also as `kubectl plumbline`) and the CRD generator.
#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// plumbline holds the workloads of a cluster to the platform team's standards.
#[derive(Debug, Parser)]
#[command(name = "plumbline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the operator: keep every workload's ComplianceReport and every
    /// plumbline object's status true. Connects with the usual kubeconfig
    /// rules (KUBECONFIG, ~/.kube/config) or the in-cluster service account.
    Run {
        /// Evaluate everything at least this often, whatever happens (e.g. 5m, 1h).
        #[arg(long, env = "PLUMBLINE_RESYNC", default_value = "10m")]
        resync: kube::core::Duration,
        /// Log format.
        #[arg(long, env = "PLUMBLINE_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Log level, or per-module filters (e.g. debug, or plumbline=debug,kube=info).
        #[arg(long, env = "PLUMBLINE_LOG", default_value = "info", value_parser = parse_log_filter)]
        log_level: String,
        /// Where to serve /metrics, /healthz and /readyz; port 0 picks a free one (logged).
        #[arg(long, env = "PLUMBLINE_METRICS_ADDR", default_value = "0.0.0.0:8080")]
        metrics_addr: std::net::SocketAddr,
        /// Serve the read-only web dashboard here (off when unset; port 0
        /// picks a free one, logged). It shows workload names, deviations
        /// and owners to whoever can reach it: bind it to 127.0.0.1 and use
        /// `kubectl port-forward` (docs/dashboard.md).
        #[arg(long, env = "PLUMBLINE_DASHBOARD_ADDR", value_name = "ADDR")]
        dashboard_addr: Option<std::net::SocketAddr>,
        /// Watch only these namespaces (comma-separated; all when unset).
        /// Standards, baselines and namespaces are cluster-scoped and always watched.
        #[arg(
            long,
            env = "PLUMBLINE_NAMESPACES",
            value_delimiter = ',',
            value_name = "NS,..."
        )]
        namespaces: Vec<String>,
        /// Raise ExceptionExpiringSoon this long before an exception expires (e.g. 7d, 36h, 0s for never).
        #[arg(long, env = "PLUMBLINE_EXPIRY_WARNING", default_value = "7d", value_parser = parse_duration)]
        expiry_warning: jiff::SignedDuration,
        /// Hold a Lease so that only one of several replicas writes.
        #[arg(long, env = "PLUMBLINE_LEADER_ELECT")]
        leader_elect: bool,
        /// The Lease's namespace (default: the Pod's namespace, POD_NAMESPACE, else plumbline-system).
        #[arg(long, env = "PLUMBLINE_LEADER_ELECT_NAMESPACE", value_name = "NS")]
        leader_elect_namespace: Option<String>,
        /// The Lease's name.
        #[arg(
            long,
            env = "PLUMBLINE_LEADER_ELECT_LEASE",
            default_value = "plumbline",
            value_name = "NAME"
        )]
        leader_elect_lease: String,
        /// The operator's own namespace, which no generated admission policy
        /// ever matches (besides kube-system, kube-public, kube-node-lease).
        #[arg(
            long,
            env = "POD_NAMESPACE",
            default_value = "plumbline-system",
            value_name = "NS"
        )]
        operator_namespace: String,
        /// Client-side limit on the operator's API requests per second (0: no
        /// limit; the API server's priority and fairness still applies).
        #[arg(long, env = "PLUMBLINE_KUBE_API_QPS", default_value_t = 0.0, value_name = "QPS", value_parser = parse_qps)]
        kube_api_qps: f64,
        /// How many requests may go at once before --kube-api-qps applies.
        #[arg(long, env = "PLUMBLINE_KUBE_API_BURST", default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        kube_api_burst: u32,
        /// How many report writes may be in flight at once.
        #[arg(long, env = "PLUMBLINE_MAX_CONCURRENT_WRITES", default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        max_concurrent_writes: u16,
    },
    /// Evaluate manifests offline, as the operator would in the cluster.
    ///
    /// Reads workloads and plumbline resources (standards, exceptions,
    /// baselines, ownerships) from files, directories (recursively: .yaml,
    /// .yml, .json) and standard input (`-`). Exit codes: 0 nothing at or
    /// above --fail-on; 1 an open deviation at or above it; 2 usage errors,
    /// unreadable input or malformed documents (the rest is still reported).
    Audit {
        /// Files, directories or `-` for standard input.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Also take plumbline resources (not workloads) from here; repeatable.
        #[arg(long, value_name = "PATH")]
        standards: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: plumbline::audit::Format,
        /// Evaluate at this time (RFC 3339, e.g. 2027-01-31T00:00:00Z) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<jiff::Timestamp>,
        /// Exit 1 when an open deviation is at or above this severity
        /// (critical, high, medium, low).
        #[arg(long, value_name = "SEVERITY")]
        fail_on: Option<plumbline::api::Severity>,
        /// Colour the text output: auto (on a terminal, unless NO_COLOR is set), always, never.
        #[arg(long, value_enum, default_value = "auto")]
        color: Color,
        /// Treat every document that is not a Kubernetes object (no
        /// apiVersion and kind) as an error. Without it, a directory walk
        /// skips and counts them (CI pipelines, Helm values and docs live
        /// beside manifests); a file named explicitly is an error either way.
        #[arg(long)]
        strict: bool,
    },
    /// Exception requests: list them with what they cover now.
    Exceptions {
        #[command(subcommand)]
        command: ExceptionsCommand,
    },
    /// Request a StandardException in your own name (it takes effect once approved).
    Request {
        /// The exception's name.
        name: String,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// The namespace of the exception and of its workloads (default: the context's).
        #[arg(short, long, value_name = "NS")]
        namespace: Option<String>,
        /// The InfrastructureStandard to be excused from.
        #[arg(long, value_name = "NAME")]
        standard: Option<String>,
        /// Only this rule of the standard (repeatable; all rules when absent).
        #[arg(long = "rule", value_name = "ID")]
        rules: Vec<String>,
        /// The PatchBaseline to be excused from.
        #[arg(long, value_name = "NAME")]
        baseline: Option<String>,
        /// Only this image repository of the baseline (repeatable; all when absent).
        #[arg(long = "image", value_name = "REPOSITORY")]
        images: Vec<String>,
        /// A workload it covers, as KIND/NAME (repeatable).
        #[arg(long = "workload", value_name = "KIND/NAME", value_parser = plumbline::cli::exceptions::parse_workload)]
        workloads: Vec<plumbline::api::common::WorkloadName>,
        /// Cover the workloads with these labels (key=value[,key=value]).
        #[arg(long, value_name = "LABELS", value_parser = plumbline::cli::exceptions::parse_selector)]
        selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
        /// Why the workloads cannot follow the standard, and what is done meanwhile.
        #[arg(long)]
        justification: String,
        /// A change, risk or issue ticket.
        #[arg(long)]
        ticket: Option<String>,
        /// When it ends (RFC 3339, e.g. 2027-01-31T00:00:00Z).
        #[arg(
            long,
            value_name = "RFC3339",
            required_unless_present = "for_",
            conflicts_with = "for_"
        )]
        expires: Option<jiff::Timestamp>,
        /// How long from now it lasts (e.g. 30d, 72h).
        #[arg(long = "for", id = "for_", value_name = "DURATION", value_parser = parse_duration)]
        for_: Option<jiff::SignedDuration>,
        /// Ask the API server to check it without creating it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Approve a StandardException: exactly the generation you read, in your own name.
    Approve {
        /// The exception's name.
        name: String,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Its namespace (default: the context's).
        #[arg(short, long, value_name = "NS")]
        namespace: Option<String>,
        /// The generation you reviewed (as `plumbline exceptions list` shows it);
        /// refused if the request changed since.
        #[arg(long, value_name = "N")]
        generation: i64,
        /// The uid you reviewed (as `plumbline exceptions list` shows it);
        /// refused if the exception was deleted and created again since.
        #[arg(long, value_name = "UID")]
        uid: Option<String>,
    },
    /// Explain a workload's verdict: every deviation with its fix, what
    /// admission would refuse or warn about, the exceptions that cover it
    /// (and would, once approved), its patch state and its owner.
    ///
    /// Reads the workload and what judges it from the cluster with your
    /// kubeconfig: `plumbline explain -n shop deployment/web`, or a manifest
    /// before it is applied: `plumbline explain -f web.yaml`. Exit codes: 0
    /// explained (whatever the verdict); 2 an unknown kind, a missing
    /// workload, no rights, an unreachable cluster or an unreadable manifest.
    Explain {
        /// The workload, as KIND/NAME (deployment/web, sts/db, pod/debug, ...).
        #[arg(value_name = "KIND/NAME", required_unless_present = "file", conflicts_with = "file", value_parser = plumbline::cli::explain::parse_target)]
        workload: Option<(plumbline::api::WorkloadKind, String)>,
        /// Explain the workloads of this manifest (`-` for standard input)
        /// against the cluster's standards, before applying it.
        #[arg(short = 'f', long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// The namespace (default: the context's); for -f, of the workloads
        /// that name none.
        #[arg(short, long, value_name = "NS")]
        namespace: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: plumbline::cli::explain::Output,
        /// Explain as of this time (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<jiff::Timestamp>,
        /// The operator's namespace, which admission never judges.
        #[arg(
            long,
            env = "PLUMBLINE_OPERATOR_NAMESPACE",
            default_value = "plumbline-system",
            value_name = "NS"
        )]
        operator_namespace: String,
    },
    /// Print the CustomResourceDefinitions of every plumbline kind as YAML.
    Crd {
        /// Write one file per kind into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ExceptionsCommand {
    /// Every exception with what it waives, selects and covers now, and how to approve it.
    List {
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Only this namespace (default: the context's).
        #[arg(short, long, value_name = "NS")]
        namespace: Option<String>,
        /// Every namespace.
        #[arg(short = 'A', long, conflicts_with = "namespace")]
        all_namespaces: bool,
        /// Only those not approved yet.
        #[arg(long)]
        pending: bool,
    },
}

/// Which cluster, as kubectl chooses it.
#[derive(Debug, clap::Args)]
struct ClusterArgs {
    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: the current one).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd { out_dir } => crd(out_dir),
        Command::Explain {
            workload,
            file,
            cluster,
            namespace,
            output,
            at,
            operator_namespace,
        } => {
            let target = match (workload, file) {
                (_, Some(path)) => plumbline::cli::explain::Target::Manifest(path),
                (Some((kind, name)), None) => plumbline::cli::explain::Target::Live { kind, name },
                (None, None) => unreachable!("clap requires a workload or -f"),
            };
            let failed = people(&cluster, "explain", |client| async move {
                let request = plumbline::cli::explain::Request {
                    namespace: namespace.unwrap_or_else(|| client.default_namespace().to_string()),
                    target,
                    output,
                    at: at.unwrap_or_else(jiff::Timestamp::now),
                    operator_namespace,
                };
                plumbline::cli::explain::run(&client, &request).await
            });
            // Explaining is reading: whatever went wrong is the caller's to
            // fix, like an audit's unreadable input (exit 2).
            if failed == ExitCode::SUCCESS {
                failed
            } else {
                ExitCode::from(2)
            }
        }
        Command::Exceptions {
            command:
                ExceptionsCommand::List {
                    cluster,
                    namespace,
                    all_namespaces,
                    pending,
                },
        } => people(&cluster, "exceptions list", |client| async move {
            let ns = (!all_namespaces)
                .then(|| namespace.unwrap_or_else(|| client.default_namespace().to_string()));
            plumbline::cli::exceptions::list(&client, ns.as_deref(), pending).await
        }),
        Command::Request {
            name,
            cluster,
            namespace,
            standard,
            rules,
            baseline,
            images,
            workloads,
            selector,
            justification,
            ticket,
            expires,
            for_,
            dry_run,
        } => people(&cluster, "request", |client| async move {
            let expires_at = match (expires, for_) {
                (Some(t), _) => t,
                (None, Some(d)) => jiff::Timestamp::now().checked_add(d).map_err(|e| {
                    plumbline::cli::CliError::Usage(format!("--for is too long: {e}"))
                })?,
                (None, None) => unreachable!("clap requires --expires or --for"),
            };
            let request = plumbline::cli::exceptions::Request {
                namespace: namespace.unwrap_or_else(|| client.default_namespace().to_string()),
                name,
                standard,
                baseline,
                rules,
                images,
                workloads,
                selector,
                justification,
                ticket,
                expires_at,
            };
            plumbline::cli::exceptions::request(&client, &request, dry_run).await
        }),
        Command::Approve {
            name,
            cluster,
            namespace,
            generation,
            uid,
        } => people(&cluster, "approve", |client| async move {
            let ns = namespace.unwrap_or_else(|| client.default_namespace().to_string());
            let reviewed = plumbline::cli::exceptions::Reviewed { generation, uid };
            plumbline::cli::exceptions::approve(&client, &ns, &name, &reviewed).await
        }),
        Command::Run {
            resync,
            log_format,
            log_level,
            metrics_addr,
            dashboard_addr,
            namespaces,
            expiry_warning,
            leader_elect,
            leader_elect_namespace,
            leader_elect_lease,
            operator_namespace,
            kube_api_qps,
            kube_api_burst,
            max_concurrent_writes,
        } => {
            let leader = leader_elect.then(|| plumbline::controller::run::Leader {
                namespace: leader_elect_namespace.unwrap_or_else(|| operator_namespace.clone()),
                lease: leader_elect_lease,
                identity: identity(),
            });
            let config = plumbline::controller::run::Config {
                namespaces: namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
                resync: resync.into(),
                expiry_warning,
                leader,
                admission: plumbline::admission::Options {
                    also_exempt: vec![operator_namespace],
                    ..Default::default()
                },
                api_qps: kube_api_qps,
                api_burst: kube_api_burst,
                max_concurrent_writes: usize::from(max_concurrent_writes),
                dashboard: None,
            };
            run(config, log_format, &log_level, metrics_addr, dashboard_addr)
        }
        Command::Audit {
            paths,
            standards,
            format,
            at,
            fail_on,
            color,
            strict,
        } => {
            use std::io::IsTerminal;
            let color = match color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            let options = plumbline::audit::Options {
                paths,
                standards,
                format,
                at: at.unwrap_or_else(jiff::Timestamp::now),
                fail_on,
                color,
                strict,
            };
            ExitCode::from(plumbline::audit::run(&options) as u8)
        }
    }
}

/// This instance's name in the leader Lease: the Pod's name in a cluster,
/// else the host and process.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "plumbline".into());
        format!("{host}-{}", std::process::id())
    })
}

/// A duration such as `7d`, `36h`, `90m`, `1d 12h` or ISO 8601 `P7D`; a day is 24 hours.
fn parse_duration(text: &str) -> Result<jiff::SignedDuration, String> {
    let span: jiff::Span = text
        .parse()
        .map_err(|e| format!("`{text}` is not a duration like 7d, 36h or 90m: {e}"))?;
    let d = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("`{text}`: {e}"))?;
    if d.is_negative() {
        return Err(format!(
            "`{text}` is negative: give a duration of 0s or more"
        ));
    }
    Ok(d)
}

/// A tracing filter such as `info` or `plumbline=debug,kube=info`, checked up front.
fn parse_log_filter(text: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(text)
        .map(|_| text.to_string())
        .map_err(|e| {
            format!(
                "`{text}` is not a log level or filter (e.g. info, debug, plumbline=debug): {e}"
            )
        })
}

fn run(
    config: plumbline::controller::run::Config,
    log_format: LogFormat,
    log_level: &str,
    metrics_addr: std::net::SocketAddr,
    dashboard_addr: Option<std::net::SocketAddr>,
) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::new(log_level);
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("plumbline run: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = config;
    runtime.block_on(async move {
        let client = match kube::Client::try_default().await {
            Ok(c) => c,
            Err(err) => {
                tracing::error!(error = %err, "cannot connect to the API server: set KUBECONFIG or run in a cluster");
                return ExitCode::FAILURE;
            }
        };
        let metrics = std::sync::Arc::new(plumbline::controller::metrics::Metrics::default());
        let listener = match tokio::net::TcpListener::bind(metrics_addr).await {
            Ok(l) => l,
            Err(err) => {
                tracing::error!(error = %err, %metrics_addr, "cannot serve metrics: choose another --metrics-addr");
                return ExitCode::FAILURE;
            }
        };
        match listener.local_addr() {
            Ok(addr) => tracing::info!(%addr, "serving /metrics, /healthz and /readyz"),
            Err(err) => tracing::warn!(error = %err, "serving metrics on an unknown address"),
        }
        let app = plumbline::controller::metrics::router(metrics.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "the metrics server stopped");
            }
        });
        if let Some(addr) = dashboard_addr {
            let listener = match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(err) => {
                    tracing::error!(error = %err, %addr, "cannot serve the dashboard: choose another --dashboard-addr");
                    return ExitCode::FAILURE;
                }
            };
            match listener.local_addr() {
                Ok(addr) => tracing::info!(%addr, "serving the dashboard"),
                Err(err) => tracing::warn!(error = %err, "serving the dashboard on an unknown address"),
            }
            // On loopback, only requests for a loopback name are answered.
            let (publisher, app) = plumbline::dashboard::channel(addr.ip().is_loopback());
            config.dashboard = Some(publisher);
            tokio::spawn(async move {
                if let Err(err) = axum::serve(listener, app).await {
                    tracing::error!(error = %err, "the dashboard server stopped");
                }
            });
        }
        tracing::info!(namespaces = ?config.namespaces, resync = ?config.resync, expiry_warning = %config.expiry_warning, leader_elect = config.leader.is_some(), "starting");
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            tracing::info!("shutting down");
        };
        let stopped = plumbline::controller::run::run(
            client,
            config,
            std::sync::Arc::new(plumbline::controller::clock::SystemClock),
            metrics,
            shutdown,
        )
        .await;
        match stopped {
            plumbline::controller::run::Stopped::Shutdown => ExitCode::SUCCESS,
            plumbline::controller::run::Stopped::LostLease => ExitCode::FAILURE,
        }
    })
}

/// Runs a command for a person: connects with their kubeconfig, prints what
/// it says, or the error with what to do (exit 1).
fn people<F, Fut>(cluster: &ClusterArgs, what: &str, command: F) -> ExitCode
where
    F: FnOnce(kube::Client) -> Fut,
    Fut: std::future::Future<Output = Result<String, plumbline::cli::CliError>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("plumbline {what}: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let options = kube::config::KubeConfigOptions {
            context: cluster.context.clone(),
            ..Default::default()
        };
        let config = match &cluster.kubeconfig {
            Some(path) => {
                let file = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| plumbline::cli::CliError::Connect(e.to_string()))?;
                kube::Config::from_custom_kubeconfig(file, &options).await
            }
            None => kube::Config::from_kubeconfig(&options).await,
        }
        .map_err(|e| plumbline::cli::CliError::Connect(e.to_string()))?;
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config)
            .map_err(|e| plumbline::cli::CliError::Connect(e.to_string()))?;
        command(client).await.map_err(|e| match e {
            plumbline::cli::CliError::Connect(why) => {
                plumbline::cli::CliError::Connect(format!("{url}: {why}"))
            }
            other => other,
        })
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("plumbline {what}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn crd(out_dir: Option<PathBuf>) -> ExitCode {
    let result = match out_dir {
        None => plumbline::crdgen::stream().map(|yaml| print!("{yaml}")),
        Some(dir) => plumbline::crdgen::write_dir(&dir).map(|paths| {
            for path in paths {
                eprintln!("wrote {}", path.display());
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("plumbline crd: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A request rate: a finite number, zero or more.
fn parse_qps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(q) if q.is_finite() && q >= 0.0 => Ok(q),
        _ => Err(format!(
            "{s:?} is not a rate: write requests per second, e.g. 50 (0 for no limit)"
        )),
    }
}
