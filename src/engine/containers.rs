//! A uniform view of every container of a pod spec (regular, init, native
//! sidecar and ephemeral), so that checks say once which kinds they cover. Pure.

use k8s_openapi::api::core::v1::{ContainerPort, PodSpec, ResourceRequirements, SecurityContext};

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
#[derive(Clone, Copy, Debug)]
pub struct ContainerView<'a> {
    /// Its role.
    pub role: Role,
    /// Its name.
    pub name: &'a str,
    /// Its image reference.
    pub image: &'a str,
    /// Its security context.
    pub security_context: Option<&'a SecurityContext>,
    /// Its resources (ephemeral containers have none).
    pub resources: Option<&'a ResourceRequirements>,
    /// Whether it declares a liveness probe.
    pub liveness: bool,
    /// Whether it declares a readiness probe.
    pub readiness: bool,
    /// Whether it declares a startup probe.
    pub startup: bool,
    /// Its ports.
    pub ports: &'a [ContainerPort],
}

impl ContainerView<'_> {
    /// "container `web`", "init container `migrate`".
    pub fn describe(&self) -> String {
        format!("{} `{}`", self.role.noun(), self.name)
    }
}

/// Every container of the pod spec: regular, then init and sidecar, then ephemeral.
pub fn containers(pod: &PodSpec) -> Vec<ContainerView<'_>> {
    let regular = pod.containers.iter().map(|c| ContainerView {
        role: Role::Regular,
        name: &c.name,
        image: c.image.as_deref().unwrap_or_default(),
        security_context: c.security_context.as_ref(),
        resources: c.resources.as_ref(),
        liveness: c.liveness_probe.is_some(),
        readiness: c.readiness_probe.is_some(),
        startup: c.startup_probe.is_some(),
        ports: c.ports.as_deref().unwrap_or_default(),
    });
    let init = pod.init_containers.iter().flatten().map(|c| ContainerView {
        role: if c.restart_policy.as_deref() == Some("Always") {
            Role::Sidecar
        } else {
            Role::Init
        },
        name: &c.name,
        image: c.image.as_deref().unwrap_or_default(),
        security_context: c.security_context.as_ref(),
        resources: c.resources.as_ref(),
        liveness: c.liveness_probe.is_some(),
        readiness: c.readiness_probe.is_some(),
        startup: c.startup_probe.is_some(),
        ports: c.ports.as_deref().unwrap_or_default(),
    });
    let ephemeral = pod
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| ContainerView {
            role: Role::Ephemeral,
            name: &c.name,
            image: c.image.as_deref().unwrap_or_default(),
            security_context: c.security_context.as_ref(),
            resources: None,
            liveness: false,
            readiness: false,
            startup: false,
            ports: &[],
        });
    regular.chain(init).chain(ephemeral).collect()
}
