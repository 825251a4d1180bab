//! What evaluation needs of a pod spec, and nothing more: host access, the
//! token setting, and one uniform record per container (regular, init, native
//! sidecar, ephemeral) with pod-level security settings already applied.
//! Keeping only this is what keeps memory small on large clusters. Pure.

use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec, SecurityContext};

/// What a container is to its pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A regular container.
    Regular,
    /// An init container that runs to completion before the others.
    Init,
    /// An init container with `restartPolicy: Always`: a native sidecar that runs beside the others.
    Sidecar,
    /// An ephemeral (debug) container.
    Ephemeral,
}

impl Role {
    /// How messages name a container of this role.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Regular => "container",
            Self::Init => "init container",
            Self::Sidecar => "sidecar container",
            Self::Ephemeral => "ephemeral container",
        }
    }

    /// Whether the container runs for the pod's lifetime (so probes make sense).
    pub fn long_running(self) -> bool {
        matches!(self, Self::Regular | Self::Sidecar)
    }
}

/// One container, whatever its role.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Container {
    /// Its role.
    pub role: Option<Role>,
    /// Its name.
    pub name: String,
    /// Its image reference.
    pub image: String,
    /// `runAsNonRoot`, the container's or else the pod's.
    pub run_as_non_root: Option<bool>,
    /// `runAsUser`, the container's or else the pod's.
    pub run_as_user: Option<i64>,
    /// `readOnlyRootFilesystem`.
    pub read_only_root_filesystem: Option<bool>,
    /// `allowPrivilegeEscalation`.
    pub allow_privilege_escalation: Option<bool>,
    /// `privileged`.
    pub privileged: Option<bool>,
    /// `capabilities.drop`.
    pub dropped_capabilities: Vec<String>,
    /// The seccomp profile type, the container's or else the pod's.
    pub seccomp: Option<String>,
    /// Names of the resources it requests.
    pub requests: Vec<String>,
    /// Names of the resources it limits.
    pub limits: Vec<String>,
    /// Whether it declares a liveness probe.
    pub liveness: bool,
    /// Whether it declares a readiness probe.
    pub readiness: bool,
    /// Whether it declares a startup probe.
    pub startup: bool,
    /// Host ports it binds.
    pub host_ports: Vec<i32>,
}

impl Container {
    /// Its role (regular when unset).
    pub fn role(&self) -> Role {
        self.role.unwrap_or(Role::Regular)
    }

    /// "container `web`", "init container `migrate`".
    pub fn describe(&self) -> String {
        format!("{} `{}`", self.role().noun(), self.name)
    }
}

/// What evaluation needs of a pod spec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pod {
    /// Every container: regular, then init and sidecar, then ephemeral.
    pub containers: Vec<Container>,
    /// `automountServiceAccountToken`.
    pub automount_service_account_token: Option<bool>,
    /// `hostNetwork`.
    pub host_network: bool,
    /// `hostPID`.
    pub host_pid: bool,
    /// `hostIPC`.
    pub host_ipc: bool,
    /// hostPath volumes: volume name and path.
    pub host_paths: Vec<(String, String)>,
}

impl Pod {
    /// Keeps what evaluation needs of a pod spec.
    pub fn from_spec(spec: PodSpec) -> Self {
        let pod_sc = spec.security_context.as_ref();
        let host_network = spec.host_network == Some(true);
        let mut containers = Vec::with_capacity(spec.containers.len());
        // Init containers are the same type as regular ones; only their role differs.
        let regular = spec.containers.iter().map(|c| (Role::Regular, c));
        let init = spec.init_containers.iter().flatten().map(|c| {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            (if sidecar { Role::Sidecar } else { Role::Init }, c)
        });
        for (role, c) in regular.chain(init) {
            containers.push(facts(
                role,
                &c.name,
                c.image.as_deref(),
                c.security_context.as_ref(),
                pod_sc,
                c.resources.as_ref(),
                [
                    c.liveness_probe.is_some(),
                    c.readiness_probe.is_some(),
                    c.startup_probe.is_some(),
                ],
                c.ports.as_deref().unwrap_or_default(),
                host_network,
            ));
        }
        for c in spec.ephemeral_containers.iter().flatten() {
            containers.push(facts(
                Role::Ephemeral,
                &c.name,
                c.image.as_deref(),
                c.security_context.as_ref(),
                pod_sc,
                None,
                [false; 3],
                &[],
                false,
            ));
        }
        Self {
            containers,
            automount_service_account_token: spec.automount_service_account_token,
            host_network,
            host_pid: spec.host_pid == Some(true),
            host_ipc: spec.host_ipc == Some(true),
            host_paths: spec
                .volumes
                .iter()
                .flatten()
                .filter_map(|v| {
                    v.host_path
                        .as_ref()
                        .map(|h| (v.name.clone(), h.path.clone()))
                })
                .collect(),
        }
    }
}

#[allow(clippy::too_many_arguments)] // one call per container kind, all fields named at the call
fn facts(
    role: Role,
    name: &str,
    image: Option<&str>,
    sc: Option<&SecurityContext>,
    pod: Option<&PodSecurityContext>,
    resources: Option<&k8s_openapi::api::core::v1::ResourceRequirements>,
    [liveness, readiness, startup]: [bool; 3],
    ports: &[k8s_openapi::api::core::v1::ContainerPort],
    host_network: bool,
) -> Container {
    let keys = |m: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >| { m.map(|m| m.keys().cloned().collect()).unwrap_or_default() };
    Container {
        role: Some(role),
        name: name.to_string(),
        image: image.unwrap_or_default().to_string(),
        run_as_non_root: sc
            .and_then(|s| s.run_as_non_root)
            .or(pod.and_then(|p| p.run_as_non_root)),
        run_as_user: sc
            .and_then(|s| s.run_as_user)
            .or(pod.and_then(|p| p.run_as_user)),
        read_only_root_filesystem: sc.and_then(|s| s.read_only_root_filesystem),
        allow_privilege_escalation: sc.and_then(|s| s.allow_privilege_escalation),
        privileged: sc.and_then(|s| s.privileged),
        dropped_capabilities: sc
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|c| c.drop.clone())
            .unwrap_or_default(),
        seccomp: sc
            .and_then(|s| s.seccomp_profile.as_ref())
            .or(pod.and_then(|p| p.seccomp_profile.as_ref()))
            .map(|p| p.type_.clone()),
        requests: keys(resources.and_then(|r| r.requests.as_ref())),
        limits: keys(resources.and_then(|r| r.limits.as_ref())),
        liveness,
        readiness,
        startup,
        // With hostNetwork every container port is bound on the host (the
        // API server writes it into a Pod's hostPort, too).
        host_ports: ports
            .iter()
            .map(|p| match p.host_port {
                Some(port) if port != 0 => port,
                _ if host_network => p.container_port,
                _ => 0,
            })
            .filter(|p| *p != 0)
            .collect(),
    }
}
