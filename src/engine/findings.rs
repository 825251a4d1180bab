//! The words of every finding a check gives, in one place. The engine fills
//! them with an object's values (a `String`); admission fills them with CEL
//! expressions that evaluate to the same values on the API server
//! (`crate::admission::cel::Concat`), so a report, `plumbline audit` and a
//! refusal say the same thing, word for word. Pure.

/// Where a finding's words go. `value` is something only the object knows:
/// the text itself for the engine, a CEL expression for admission.
pub trait Sink {
    /// Fixed words.
    fn text(&mut self, words: &str);
    /// Fixed words with the rule's parameters in them, written in place.
    fn text_fmt(&mut self, words: std::fmt::Arguments<'_>);
    /// A value of the object (a container's description, an image, ...).
    fn value(&mut self, value: &str);
}

impl Sink for String {
    fn text(&mut self, words: &str) {
        self.push_str(words);
    }

    fn text_fmt(&mut self, words: std::fmt::Arguments<'_>) {
        let _ = std::fmt::Write::write_fmt(self, words);
    }

    fn value(&mut self, value: &str) {
        self.push_str(value);
    }
}

/// A required label or annotation is missing.
pub fn missing_key(s: &mut impl Sink, noun: &str, key: &str) {
    s.text_fmt(format_args!(
        "the {noun} `{key}` is missing: add it to metadata.{noun}s"
    ));
}

/// A required label or annotation's value does not match its pattern.
pub fn key_mismatch(s: &mut impl Sink, noun: &str, key: &str, value: &str, pattern: &str) {
    s.text_fmt(format_args!("the {noun} `{key}` is `"));
    s.value(value);
    s.text_fmt(format_args!(
        "`, which does not match `{pattern}`: correct its value"
    ));
}

/// A container lacks a request or limit (`kind` is "request" or "limit").
pub fn missing_resource(s: &mut impl Sink, container: &str, name: &str, kind: &str) {
    s.value(container);
    s.text_fmt(format_args!(
        " has no {name} {kind}: set resources.{kind}s.{name}"
    ));
}

/// An image from a registry outside the allowed prefixes.
pub fn registry_not_allowed(s: &mut impl Sink, container: &str, image: &str, allowed: &[String]) {
    s.value(container);
    s.text(" uses `");
    s.value(image);
    s.text_fmt(format_args!(
        "` from a registry that is not allowed: pull it from {}",
        allowed.join(" or ")
    ));
}

/// An image with the `latest` tag.
pub fn latest_tag(s: &mut impl Sink, container: &str, image: &str) {
    s.value(container);
    s.text(" uses the `latest` tag (`");
    s.value(image);
    s.text("`): pin a version tag");
}

/// An image with neither tag nor digest.
pub fn untagged(s: &mut impl Sink, container: &str, image: &str) {
    s.value(container);
    s.text(" uses `");
    s.value(image);
    s.text("` without a tag, which means `latest`: pin a version tag");
}

/// An image without a digest.
pub fn no_digest(s: &mut impl Sink, container: &str, image: &str) {
    s.value(container);
    s.text(" uses `");
    s.value(image);
    s.text("` without a digest: pin it as `");
    s.value(image);
    s.text("@sha256:...`");
}

/// An image matching a forbidden pattern.
pub fn forbidden_image(s: &mut impl Sink, container: &str, image: &str, pattern: &str) {
    s.value(container);
    s.text(" uses `");
    s.value(image);
    s.text_fmt(format_args!(
        "`, a forbidden image (matches `{pattern}`): replace it"
    ));
}

/// `runAsUser: 0`.
pub fn runs_as_root(s: &mut impl Sink, container: &str) {
    s.value(container);
    s.text(" runs as root (runAsUser: 0): set a non-zero runAsUser and runAsNonRoot: true");
}

/// Neither `runAsNonRoot: true` nor a non-zero `runAsUser`.
pub fn may_run_as_root(s: &mut impl Sink, container: &str) {
    s.value(container);
    s.text(" may run as root: set securityContext.runAsNonRoot: true (or a non-zero runAsUser)");
}

/// A writable root filesystem.
pub fn writable_root(s: &mut impl Sink, container: &str) {
    s.value(container);
    s.text(" has a writable root filesystem: set securityContext.readOnlyRootFilesystem: true");
}

/// Privilege escalation not disabled.
pub fn privilege_escalation(s: &mut impl Sink, container: &str) {
    s.value(container);
    s.text(" allows privilege escalation: set securityContext.allowPrivilegeEscalation: false");
}

/// A privileged container.
pub fn privileged(s: &mut impl Sink, container: &str) {
    s.value(container);
    s.text(" is privileged: remove securityContext.privileged");
}

/// Capabilities not dropped: `missing` lists them, `pronoun` is "it" or "them".
pub fn capabilities_kept(s: &mut impl Sink, container: &str, missing: &str, pronoun: &str) {
    s.value(container);
    s.text(" does not drop ");
    s.value(missing);
    s.text(": add ");
    s.value(pronoun);
    s.text(" to securityContext.capabilities.drop");
}

/// No `RuntimeDefault` or `Localhost` seccomp profile; `shown` is ` (Type)`
/// for another profile, or empty.
pub fn no_seccomp(s: &mut impl Sink, container: &str, shown: &str) {
    s.value(container);
    s.text(" runs without a seccomp profile");
    s.value(shown);
    s.text(": set securityContext.seccompProfile.type: RuntimeDefault");
}

/// A missing probe (`name` is "liveness", `field` is "livenessProbe").
pub fn no_probe(s: &mut impl Sink, container: &str, name: &str, field: &str) {
    s.value(container);
    s.text_fmt(format_args!(" has no {name} probe: add {field}"));
}

/// Fewer replicas than the minimum; `plural` is "s" or empty.
pub fn too_few_replicas(s: &mut impl Sink, replicas: &str, plural: &str, min: i32) {
    s.text("runs ");
    s.value(replicas);
    s.text(" replica");
    s.value(plural);
    s.text_fmt(format_args!(
        ", fewer than {min}: set spec.replicas to at least {min}"
    ));
}

/// A host namespace (`field` is hostNetwork, hostPID or hostIPC).
pub fn host_namespace(s: &mut impl Sink, field: &str) {
    s.text_fmt(format_args!(
        "the pod uses the host's namespace ({field}: true): remove {field}"
    ));
}

/// A hostPath volume.
pub fn host_path(s: &mut impl Sink, volume: &str, path: &str) {
    s.text("the volume `");
    s.value(volume);
    s.text("` mounts the host path `");
    s.value(path);
    s.text("`: use a persistentVolumeClaim, configMap or emptyDir instead");
}

/// A host port.
pub fn host_port(s: &mut impl Sink, container: &str, port: &str) {
    s.value(container);
    s.text(" binds host port ");
    s.value(port);
    s.text(": remove hostPort and expose it through a Service");
}

/// The service account token mounted automatically.
pub fn token_mounted(s: &mut impl Sink) {
    s.text("the service account token is mounted automatically: set automountServiceAccountToken: false in the pod spec");
}

/// A finding as the engine writes it. Most findings are under 160 bytes:
/// one allocation, written in place.
pub fn text(write: impl FnOnce(&mut String)) -> String {
    let mut s = String::with_capacity(160);
    write(&mut s);
    s
}
