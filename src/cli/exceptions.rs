//! `plumbline exceptions list`, `plumbline request` and `plumbline approve`.
//! An approver reads what a request covers and approves exactly that: the
//! generation shown, with a resourceVersion precondition, in their own user
//! name (as the API server knows it), so nobody hand-writes a JSON patch.
//! The API server's approval policy (deploy/admission) decides who may;
//! these commands only send what a careful person would.

use std::fmt::Write;

use jiff::Timestamp;
use k8s_openapi::{
    api::authentication::v1::SelfSubjectReview,
    apimachinery::pkg::apis::meta::v1::{LabelSelector, Time},
};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
};

use super::CliError;
use crate::api::{
    StandardException, StandardExceptionSpec, WorkloadKind,
    common::WorkloadName,
    exception::{ExceptionTarget, ExceptionWorkloads},
};

/// The user name the API server gives whoever runs the command.
pub async fn whoami(client: &Client) -> Result<String, CliError> {
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = reviews
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .ok_or_else(|| CliError::Api("the API server did not say who you are".into()))
}

/// `Kind/name`, e.g. `Deployment/cart`.
pub fn parse_workload(text: &str) -> Result<WorkloadName, String> {
    let (kind, name) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}`: name a workload as KIND/NAME, e.g. Deployment/cart"))?;
    let kind = WorkloadKind::ALL
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(kind))
        .ok_or_else(|| {
            let kinds: Vec<&str> = WorkloadKind::ALL.iter().map(|k| k.as_str()).collect();
            format!(
                "`{text}`: {kind} is not a workload kind (one of {})",
                kinds.join(", ")
            )
        })?;
    if name.is_empty() {
        return Err(format!("`{text}`: the workload's name is missing"));
    }
    Ok(WorkloadName {
        kind,
        name: name.to_string(),
    })
}

/// `key=value,key=value`: the labels a workload must carry to be covered.
pub fn parse_selector(text: &str) -> Result<LabelSelector, String> {
    let mut labels = std::collections::BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}`: select by labels as key=value[,key=value]"))?;
        labels.insert(k.trim().to_string(), v.trim().to_string());
    }
    if labels.is_empty() {
        return Err("--selector selects nothing: give key=value[,key=value]".into());
    }
    Ok(LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    })
}

/// What `plumbline request` asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The exception's namespace (that of its workloads).
    pub namespace: String,
    /// The exception's name.
    pub name: String,
    /// The standard waived, or
    pub standard: Option<String>,
    /// the patch baseline waived.
    pub baseline: Option<String>,
    /// Rule ids of the standard (all when empty).
    pub rules: Vec<String>,
    /// Image repositories of the baseline (all when empty).
    pub images: Vec<String>,
    /// Workloads by kind and name.
    pub workloads: Vec<WorkloadName>,
    /// Workloads by label.
    pub selector: Option<LabelSelector>,
    /// Why.
    pub justification: String,
    /// A ticket, if any.
    pub ticket: Option<String>,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// The exception a request becomes, requested by `requested_by`.
pub fn build(request: &Request, requested_by: &str) -> Result<StandardException, CliError> {
    let usage = |m: &str| Err(CliError::Usage(m.into()));
    if request.standard.is_some() == request.baseline.is_some() {
        return usage("name exactly one of --standard and --baseline");
    }
    if !request.rules.is_empty() && request.standard.is_none() {
        return usage("--rule only applies to a --standard");
    }
    if !request.images.is_empty() && request.baseline.is_none() {
        return usage("--image only applies to a --baseline");
    }
    if request.workloads.is_empty() && request.selector.is_none() {
        return usage(
            "say which workloads it covers: --workload KIND/NAME (repeatable) or --selector key=value",
        );
    }
    let listed = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    let mut exception = StandardException::new(
        &request.name,
        StandardExceptionSpec {
            target: ExceptionTarget {
                standard: request.standard.clone(),
                rules: listed(&request.rules),
                patch_baseline: request.baseline.clone(),
                images: listed(&request.images),
            },
            workloads: ExceptionWorkloads {
                names: (!request.workloads.is_empty()).then(|| request.workloads.clone()),
                selector: request.selector.clone(),
            },
            justification: request.justification.clone(),
            requested_by: requested_by.to_string(),
            approved_by: None,
            approved_generation: None,
            ticket: request.ticket.clone(),
            expires_at: Time(request.expires_at),
        },
    );
    exception.metadata.namespace = Some(request.namespace.clone());
    Ok(exception)
}

/// `plumbline request`: creates the request in the user's own name.
pub async fn request(
    client: &Client,
    request: &Request,
    dry_run: bool,
) -> Result<String, CliError> {
    let me = whoami(client).await?;
    let exception = build(request, &me)?;
    let api: Api<StandardException> = Api::namespaced(client.clone(), &request.namespace);
    let params = PostParams {
        dry_run,
        ..Default::default()
    };
    let created = api.create(&params, &exception).await?;
    Ok(format!(
        "{} standardexception {}/{} (generation {}), requested by {me}: it takes effect once an approver runs\n  plumbline approve -n {} {}\n",
        if dry_run { "would create" } else { "created" },
        request.namespace,
        created.name_any(),
        created.metadata.generation.unwrap_or(1),
        request.namespace,
        created.name_any(),
    ))
}

/// What an exception waives, in a few words.
fn target(e: &StandardException) -> String {
    let t = &e.spec.target;
    let (what, name, parts) = match (&t.standard, &t.patch_baseline) {
        (Some(s), _) => ("standard", s.as_str(), t.rules.as_deref()),
        (None, Some(b)) => ("baseline", b.as_str(), t.images.as_deref()),
        (None, None) => ("?", "", None),
    };
    match parts {
        Some(p) => format!("{what} {name}: {}", p.join(", ")),
        None => format!(
            "{what} {name}: all {}",
            if what == "standard" {
                "rules"
            } else {
                "images"
            }
        ),
    }
}

/// What an exception selects, as written.
fn selects(e: &StandardException) -> String {
    let mut parts: Vec<String> = e
        .spec
        .workloads
        .names
        .iter()
        .flatten()
        .map(|w| format!("{}/{}", w.kind, w.name))
        .collect();
    if let Some(sel) = &e.spec.workloads.selector {
        let mut terms: Vec<String> = sel
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in sel.match_expressions.iter().flatten() {
            terms.push(format!(
                "{} {} ({})",
                r.key,
                r.operator,
                r.values.as_deref().unwrap_or_default().join(",")
            ));
        }
        parts.push(format!("labels {}", terms.join(",")));
    }
    parts.join(", ")
}

/// What the operator found it covers now, and whether that is of this generation.
fn covers(e: &StandardException) -> String {
    let Some(status) = &e.status else {
        return "not evaluated yet (is the operator running?)".into();
    };
    let mut out = format!(
        "{} workload{}",
        status.covered,
        if status.covered == 1 { "" } else { "s" }
    );
    let items: Vec<String> = status
        .workloads
        .items
        .iter()
        .map(|w| format!("{}/{}", w.kind, w.name))
        .collect();
    if !items.is_empty() {
        let _ = write!(out, ": {}", items.join(", "));
    }
    if status.workloads.omitted > 0 {
        let _ = write!(out, " and {} more", status.workloads.omitted);
    }
    if status.observed_generation != e.metadata.generation {
        out.push_str(" (evaluated at an earlier generation: the operator has not caught up yet)");
    }
    out
}

/// The listing `plumbline exceptions list` prints.
pub fn describe(exceptions: &[StandardException]) -> String {
    if exceptions.is_empty() {
        return "no exceptions found\n".into();
    }
    let mut out = String::new();
    for e in exceptions {
        let ns = e.namespace().unwrap_or_default();
        let state = e
            .status
            .as_ref()
            .and_then(|s| s.state)
            .map_or("Unknown".to_string(), |s| format!("{s:?}"));
        let generation = e.metadata.generation.unwrap_or_default();
        let _ = writeln!(
            out,
            "{ns}/{} — {state}, generation {generation}",
            e.name_any()
        );
        let _ = writeln!(out, "  waives:      {}", target(e));
        let _ = writeln!(out, "  selects:     {}", selects(e));
        let _ = writeln!(out, "  covers now:  {}", covers(e));
        let _ = writeln!(
            out,
            "  requested:   by {}, until {}",
            e.spec.requested_by, e.spec.expires_at.0
        );
        if let Some(ticket) = &e.spec.ticket {
            let _ = writeln!(out, "  ticket:      {ticket}");
        }
        let _ = writeln!(out, "  why:         {}", e.spec.justification);
        match &e.spec.approved_by {
            Some(by) => {
                let _ = writeln!(out, "  approved:    by {by}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "  to approve:  plumbline approve -n {ns} {} --generation {generation} --uid {}",
                    e.name_any(),
                    e.metadata.uid.as_deref().unwrap_or_default()
                );
            }
        }
    }
    out
}

/// `plumbline exceptions list`: in one namespace, or all; pending ones only if asked.
pub async fn list(
    client: &Client,
    namespace: Option<&str>,
    pending_only: bool,
) -> Result<String, CliError> {
    let api: Api<StandardException> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut items = api.list(&ListParams::default()).await?.items;
    if pending_only {
        items.retain(|e| e.spec.approved_by.is_none());
    }
    items.sort_by_key(|e| (e.namespace(), e.name_any()));
    Ok(describe(&items))
}

/// The merge patch that approves `e` as `approver`: its generation, and its
/// resourceVersion as a precondition (the API server refuses the patch if
/// anything changed since it was read).
pub fn approval(e: &StandardException, approver: &str) -> serde_json::Value {
    serde_json::json!({
        "metadata": {"resourceVersion": e.metadata.resource_version},
        "spec": {"approvedBy": approver, "approvedGeneration": e.metadata.generation},
    })
}

/// What the approver read: the generation, and the object's uid (so that an
/// exception deleted and created again under the same name, whose
/// generation starts over, is not taken for the one they read).
#[derive(Clone, Debug, Default)]
pub struct Reviewed {
    /// `metadata.generation` as shown.
    pub generation: i64,
    /// `metadata.uid` as shown, when given.
    pub uid: Option<String>,
}

/// `plumbline approve`: approves exactly what the approver read (as
/// `plumbline exceptions list` shows it), or nothing.
pub async fn approve(
    client: &Client,
    namespace: &str,
    name: &str,
    reviewed: &Reviewed,
) -> Result<String, CliError> {
    let api: Api<StandardException> = Api::namespaced(client.clone(), namespace);
    let e = api.get(name).await?;
    let generation = e.metadata.generation.unwrap_or_default();
    let read_again = format!(
        "read it again (plumbline exceptions list -n {namespace}) and approve what it says now"
    );
    if let Some(uid) = &reviewed.uid
        && e.metadata.uid.as_ref() != Some(uid)
    {
        return Err(CliError::Usage(format!(
            "{namespace}/{name} is not the exception you read: it was deleted and created again (uid {}, not {uid}); {read_again}",
            e.metadata.uid.as_deref().unwrap_or_default()
        )));
    }
    if reviewed.generation != generation {
        return Err(CliError::Usage(format!(
            "{namespace}/{name} changed since you read it: it is at generation {generation}, not {}; {read_again}",
            reviewed.generation
        )));
    }
    let me = whoami(client).await?;
    if e.spec.approved_by.as_deref() == Some(me.as_str())
        && e.spec.approved_generation == e.metadata.generation.map(|g| g - 1)
    {
        return Ok(format!("{namespace}/{name} is already approved by you\n"));
    }
    let shown = describe(std::slice::from_ref(&e));
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(approval(&e, &me)),
    )
    .await
    .map_err(|err| match err {
        kube::Error::Api(s) if s.code == 409 => CliError::Api(format!(
            "{namespace}/{name} changed while you approved it: nothing was approved; read it again"
        )),
        other => other.into(),
    })?;
    Ok(format!(
        "{shown}approved by {me} at generation {generation}\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            namespace: "checkout".into(),
            name: "legacy-root".into(),
            standard: Some("baseline-security".into()),
            baseline: None,
            rules: vec!["run-as-non-root".into()],
            images: vec![],
            workloads: vec![parse_workload("deployment/cart").unwrap()],
            selector: None,
            justification: "The vendor image runs as root until 4.2.".into(),
            ticket: Some("RISK-7".into()),
            expires_at: "2027-01-31T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_request_is_built_in_the_requesters_name_and_validates_like_the_crd() {
        let e = build(&request(), "alice").unwrap();
        assert_eq!(e.spec.requested_by, "alice");
        assert_eq!(e.spec.approved_by, None);
        assert_eq!(e.metadata.namespace.as_deref(), Some("checkout"));
        assert_eq!(
            e.spec.workloads.names.as_deref().unwrap()[0].kind,
            WorkloadKind::Deployment
        );
        e.validate_cel().expect("what the CRD's rules accept");
    }

    #[test]
    fn bad_requests_say_what_to_change() {
        let mut r = request();
        r.workloads.clear();
        let err = build(&r, "alice").unwrap_err().to_string();
        assert!(err.contains("--workload KIND/NAME"), "{err}");
        let mut r = request();
        r.baseline = Some("b".into());
        assert!(
            build(&r, "a")
                .unwrap_err()
                .to_string()
                .contains("exactly one")
        );
        let mut r = request();
        r.images = vec!["nginx".into()];
        assert!(build(&r, "a").unwrap_err().to_string().contains("--image"));
        assert!(parse_workload("cart").unwrap_err().contains("KIND/NAME"));
        assert!(
            parse_workload("Service/cart")
                .unwrap_err()
                .contains("not a workload kind")
        );
        assert!(parse_selector("").unwrap_err().contains("selects nothing"));
        assert!(parse_selector("app").unwrap_err().contains("key=value"));
        let sel = parse_selector("app=cart, tier=web").unwrap();
        assert_eq!(sel.match_labels.unwrap().len(), 2);
    }

    #[test]
    fn an_approval_names_the_generation_and_resource_version_read() {
        let mut e = build(&request(), "alice").unwrap();
        e.metadata.generation = Some(3);
        e.metadata.resource_version = Some("812".into());
        assert_eq!(
            approval(&e, "bob"),
            serde_json::json!({"metadata": {"resourceVersion": "812"},
                               "spec": {"approvedBy": "bob", "approvedGeneration": 3}})
        );
        let text = describe(&[e]);
        assert!(
            text.contains("checkout/legacy-root — Unknown, generation 3"),
            "{text}"
        );
        assert!(
            text.contains("waives:      standard baseline-security: run-as-non-root"),
            "{text}"
        );
        assert!(text.contains("selects:     Deployment/cart"), "{text}");
        assert!(text.contains("not evaluated yet"), "{text}");
        assert!(
            text.contains("plumbline approve -n checkout legacy-root --generation 3 --uid "),
            "{text}"
        );
    }
}
