//! Unit tests of the plan's builders (`statuses`) and of the Events their
//! transitions raise (`events`).

mod statuses {
    use jiff::{SignedDuration, Timestamp};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    use crate::{
        admission::Coverage,
        api::{ExceptionState, standard::Enforcement},
        controller::{
            conditions::{Desired, reasons, types},
            plan::{
                exception::{events as exception_events, status as exception_status},
                report::{report, report_name},
                standard::{enforced, status as standard_status},
            },
            seen::SeenReport,
        },
        engine::{ExceptionVerdict, StandardVerdict},
    };

    fn audit() -> Desired {
        enforced(
            &Coverage {
                enforcement: Enforcement::Audit,
                invalid: false,
                retired: false,
                enforced: Vec::new(),
                background: Vec::new(),
            },
            None,
        )
    }
    use crate::{
        audit::load::{Loaded, Source, Take},
        engine::{Evaluation, evaluate},
    };

    const YAML: &str = r#"
apiVersion: plumbline.dev/v1alpha1
kind: InfrastructureStandard
metadata: {name: ready, generation: 4}
spec:
  rules:
  - {id: replicas, severity: High, description: d, replicas: {minimum: 2}}
  review: {maxActiveExceptions: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: 1234-abcd, generation: 7}
spec:
  replicas: 1
  template: {spec: {containers: [{name: c, image: "nginx:1.27.3"}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, uid: 5678-efgh}
spec:
  replicas: 1
  template: {spec: {containers: [{name: c, image: "nginx:1.27.3"}]}}
---
apiVersion: plumbline.dev/v1alpha1
kind: StandardException
metadata: {name: api-single, namespace: shop}
spec:
  target: {standard: ready}
  workloads: {names: [{kind: Deployment, name: api}]}
  justification: one replica for now
  requestedBy: alice
  approvedBy: bob
  expiresAt: "2027-01-01T00:00:00Z"
"#;

    fn evaluated(now: &str) -> (Loaded, Evaluation) {
        let mut loaded = Loaded::default();
        loaded.add(
            &Source {
                name: "t.yaml".into(),
                text: YAML.into(),
                json: false,
                walked: false,
            },
            Take::All,
        );
        assert!(loaded.malformed.is_empty(), "{:?}", loaded.malformed);
        let eval = evaluate(&loaded.inputs, now.parse().unwrap());
        (loaded, eval)
    }

    fn condition<'a>(c: &'a [Condition], t: &str) -> &'a Condition {
        c.iter()
            .find(|c| c.type_ == t)
            .unwrap_or_else(|| panic!("no {t} condition"))
    }

    #[test]
    fn a_deviating_workload_gets_a_report_it_owns_saying_what_to_fix() {
        let (loaded, eval) = evaluated("2026-11-24T12:00:00Z");
        let r = report(
            &loaded.inputs.workloads[0],
            &eval.workloads[0],
            None,
            eval.at,
        );
        assert_eq!(r.metadata.name.as_deref(), Some("deployment-web"));
        assert_eq!(r.metadata.namespace.as_deref(), Some("shop"));
        let owner = &r.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Deployment", "1234-abcd")
        );
        let status = r.status.unwrap();
        let compliant = condition(&status.conditions, types::COMPLIANT);
        assert_eq!(compliant.status, "False");
        assert_eq!(compliant.reason, reasons::DEVIATING);
        assert!(
            compliant.message.contains("ready/replicas"),
            "{}",
            compliant.message
        );
        // The workload's generation; no observedGeneration of the report's own.
        assert_eq!(status.workload_generation, Some(7));
        assert_eq!(compliant.observed_generation, None);
        assert_eq!(
            condition(&status.conditions, types::OWNED).reason,
            reasons::ORPHAN
        );
        assert_eq!(
            condition(&status.conditions, types::PATCH_CURRENT).reason,
            reasons::NO_BASELINE
        );
        assert_eq!(status.deviation_count, 1);
    }

    #[test]
    fn an_excepted_workload_is_compliant_with_reason_excepted() {
        let (loaded, eval) = evaluated("2026-11-24T12:00:00Z");
        let r = report(
            &loaded.inputs.workloads[1],
            &eval.workloads[1],
            None,
            eval.at,
        );
        let status = r.status.unwrap();
        let c = condition(&status.conditions, types::COMPLIANT);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", reasons::EXCEPTED)
        );
        assert!(c.message.contains("api-single"));
        assert_eq!(
            status.deviations[0]
                .excepted
                .first()
                .map(|e| e.exception.as_str()),
            Some("api-single")
        );
    }

    #[test]
    fn the_same_verdict_later_builds_an_identical_status() {
        let (loaded, eval) = evaluated("2026-11-24T12:00:00Z");
        let first = report(
            &loaded.inputs.workloads[0],
            &eval.workloads[0],
            None,
            eval.at,
        );
        let (loaded2, later) = evaluated("2026-11-25T12:00:00Z");
        let second = report(
            &loaded2.inputs.workloads[0],
            &later.workloads[0],
            Some(&SeenReport::new(&first)),
            later.at,
        );
        assert_eq!(
            first, second,
            "nothing changed, so nothing is to be written"
        );
        assert_eq!(
            crate::controller::seen::digest(&first),
            SeenReport::new(&second).digest,
            "and the writer sees that from what it keeps"
        );

        let s1 = standard_status(&eval.standards[0], audit(), Some(4), &[], eval.at);
        let s2 = standard_status(
            &later.standards[0],
            audit(),
            Some(4),
            &s1.conditions,
            later.at,
        );
        assert_eq!(s1, s2);
    }

    #[test]
    fn expiry_flips_the_report_and_moves_the_transition_time() {
        let (loaded, before) = evaluated("2026-12-31T23:59:59Z");
        let r1 = report(
            &loaded.inputs.workloads[1],
            &before.workloads[1],
            None,
            before.at,
        );
        let (_, after) = evaluated("2027-01-01T00:00:00Z");
        let r2 = report(
            &loaded.inputs.workloads[1],
            &after.workloads[1],
            Some(&SeenReport::new(&r1)),
            after.at,
        );
        let c = condition(&r2.status.as_ref().unwrap().conditions, types::COMPLIANT).clone();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", reasons::DEVIATING)
        );
        assert_eq!(c.last_transition_time, Time(after.at));
    }

    #[test]
    fn review_required_follows_the_threshold() {
        let (_, eval) = evaluated("2026-11-24T12:00:00Z");
        let s = standard_status(&eval.standards[0], audit(), Some(4), &[], eval.at);
        let review = condition(&s.conditions, types::REVIEW_REQUIRED);
        assert_eq!(review.status, "True");
        assert_eq!(review.reason, "ActiveExceptionsAtThreshold");
        assert_eq!(condition(&s.conditions, types::READY).status, "True");
        assert_eq!(s.observed_generation, Some(4));
        let e = exception_status(&eval.exceptions[0], None, &[], eval.at, WEEK);
        assert_eq!(e.state, Some(ExceptionState::Active));
        assert_eq!(condition(&e.conditions, types::ACTIVE).status, "True");
    }

    const WEEK: SignedDuration = SignedDuration::from_hours(7 * 24);

    #[test]
    fn expiring_soon_starts_exactly_when_the_warning_window_does() {
        let (_, eval) = evaluated("2026-11-24T12:00:00Z");
        let v = &eval.exceptions[0];
        let left = eval.at.duration_until(v.expires_at);
        let second = SignedDuration::from_secs(1);
        let outside = exception_status(v, None, &[], eval.at, left - second);
        let c = condition(&outside.conditions, types::EXPIRING_SOON);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", reasons::NOT_EXPIRING_SOON)
        );
        assert!(exception_events(None, &outside).is_empty());

        let inside = exception_status(v, None, &outside.conditions, eval.at, left);
        let c = condition(&inside.conditions, types::EXPIRING_SOON);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", reasons::EXPIRES_WITHIN_WARNING)
        );
        assert!(
            c.message.contains(&v.expires_at.to_string()),
            "{}",
            c.message
        );
        let events = exception_events(Some(&outside), &inside);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, "ExceptionExpiringSoon");
        assert!(
            exception_events(Some(&inside), &inside).is_empty(),
            "warned once"
        );
        assert_eq!(
            v.warns_at(left),
            eval.at,
            "the loop wakes exactly when the window opens"
        );
    }

    #[test]
    fn long_names_are_shortened_stably() {
        let (loaded, _) = evaluated("2026-11-24T12:00:00Z");
        let mut w = (*loaded.inputs.workloads[0]).clone();
        w.name = "x".repeat(253);
        let a = report_name(&w);
        assert_eq!(a.len(), 253);
        assert_eq!(a, report_name(&w));
        w.name.push('y');
        assert_ne!(a, report_name(&w));
    }

    #[test]
    fn invalid_specs_are_stalled_but_an_exception_waiting_for_its_workload_is_not() {
        let verdict = |reason: &'static str| ExceptionVerdict {
            namespace: "ns".into(),
            name: "e".into(),
            state: ExceptionState::Invalid,
            reason,
            message: format!("{reason}: what to fix"),
            covered: Vec::new(),
            expires_at: "2027-01-01T00:00:00Z".parse().unwrap(),
            in_force: false,
            awaiting_workloads: reason == crate::engine::exception::SELECTS_NOTHING,
        };
        let at: Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
        let has = |c: &[Condition], t: &str, status: &str| {
            c.iter().any(|c| c.type_ == t && c.status == status)
        };
        // An edit is needed: Ready=False and Stalled=True (kstatus: Failed).
        let e = exception_status(&verdict("RequesterApproved"), Some(1), &[], at, WEEK);
        assert!(has(&e.conditions, types::READY, "False"));
        assert!(has(&e.conditions, types::STALLED, "True"));
        // The workload may be on its way: not Stalled (kstatus: in progress).
        let e = exception_status(
            &verdict(crate::engine::exception::SELECTS_NOTHING),
            Some(1),
            &[],
            at,
            WEEK,
        );
        assert!(has(&e.conditions, types::READY, "False"));
        assert!(!e.conditions.iter().any(|c| c.type_ == types::STALLED));
        // A valid one has no Stalled condition at all.
        let s = standard_status(
            &StandardVerdict {
                name: "s".into(),
                error: Some("spec.rules[0]: what to fix".into()),
                ..Default::default()
            },
            audit(),
            Some(2),
            &[],
            at,
        );
        assert!(has(&s.conditions, types::STALLED, "True"));
        assert!(
            s.conditions
                .iter()
                .all(|c| c.observed_generation == Some(2))
        );
    }
}

mod events {
    use std::sync::Arc;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    use crate::{
        api::Severity,
        controller::plan::report::by_standard,
        engine::{Deviation, Owner},
    };
    use crate::{
        api::{ComplianceReportStatus, InfrastructureStandardStatus},
        controller::{
            conditions::types,
            plan::{
                events::{BULK, Bulk, Tally, Transition, reasons},
                report::{changes as report_changes, events as report},
                standard::events as standard,
            },
            seen::SeenReport,
        },
        engine::WorkloadVerdict,
    };

    /// A verdict with these open and excepted rules of standard `s`.
    fn verdict(open: &[&str], excepted: &[&str]) -> WorkloadVerdict {
        let d = |rule: &str, exception: Option<&str>| Deviation {
            standard: Arc::from("s"),
            rule: Arc::from(rule),
            severity: Severity::High,
            message: Arc::from(format!("fix {rule}")),
            exception: exception.map(Into::into),
        };
        WorkloadVerdict {
            deviations: open
                .iter()
                .map(|r| d(r, None))
                .chain(excepted.iter().map(|r| d(r, Some("e"))))
                .collect(),
            standards: Vec::new(),
            patch: Vec::new(),
            patch_state: None,
            patch_due: None,
            owner: Owner::Orphan,
            rules: Vec::new(),
            baselines: Vec::new(),
            selected_by: Vec::new(),
            used_exceptions: Vec::new(),
            deprecated: Vec::new(),
            next_change: None,
        }
    }

    fn status_of(v: &WorkloadVerdict) -> ComplianceReportStatus {
        ComplianceReportStatus {
            deviations: by_standard(&v.deviations),
            ..Default::default()
        }
    }

    fn status(open: &[&str], excepted: &[&str]) -> ComplianceReportStatus {
        status_of(&verdict(open, excepted))
    }

    /// The Events of going from `before` to this verdict.
    fn events(before: Option<&SeenReport>, v: &WorkloadVerdict, bulk: &Bulk) -> Vec<Transition> {
        let next = status_of(v);
        report(&report_changes(before, &next), &next, v, bulk)
    }

    fn spec() -> crate::api::ComplianceReportSpec {
        crate::api::ComplianceReportSpec {
            workload: crate::api::report::ReportedWorkload {
                kind: "Deployment".into(),
                name: "w".into(),
            },
        }
    }

    fn seen(open: &[&str], excepted: &[&str]) -> SeenReport {
        SeenReport::new(&crate::api::ComplianceReport {
            metadata: Default::default(),
            spec: spec(),
            status: Some(status(open, excepted)),
        })
    }

    #[test]
    fn new_and_resolved_deviations_each_raise_one_event() {
        let t = events(None, &verdict(&["a", "b"], &[]), &Bulk::default());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].reason, reasons::DEVIATION_FOUND);
        assert!(t[0].note.contains("s/a (High): fix a") && t[0].note.contains("s/b"));
        let t = events(
            Some(&seen(&["a", "b"], &[])),
            &verdict(&["b"], &[]),
            &Bulk::default(),
        );
        assert_eq!(
            t,
            vec![Transition::new(
                false,
                reasons::DEVIATION_RESOLVED,
                "no longer deviates from s/a".into()
            )]
        );
        // An exception covering a deviation resolves it; expiry re-opens it.
        let t = events(
            Some(&seen(&["a"], &[])),
            &verdict(&[], &["a"]),
            &Bulk::default(),
        );
        assert_eq!(t[0].reason, reasons::DEVIATION_RESOLVED);
        let t = events(
            Some(&seen(&[], &["a"])),
            &verdict(&["a"], &[]),
            &Bulk::default(),
        );
        assert_eq!(t[0].reason, reasons::DEVIATION_FOUND);
    }

    #[test]
    fn events_follow_every_open_deviation_of_a_long_list() {
        // 60 rules: a report lists all of them.
        let rules: Vec<String> = (0..60).map(|i| format!("r{i:02}")).collect();
        let all: Vec<&str> = rules.iter().map(String::as_str).collect();
        let before = seen(&all, &[]);
        assert_eq!(before.open().count(), 60);
        // The 56th is fixed: resolved, by name, and nothing else is.
        let after: Vec<&str> = all.iter().copied().filter(|r| *r != "r55").collect();
        let t = events(Some(&before), &verdict(&after, &[]), &Bulk::default());
        assert_eq!(
            t,
            vec![Transition::new(
                false,
                reasons::DEVIATION_RESOLVED,
                "no longer deviates from s/r55".into()
            )]
        );
        // A 61st, beyond the messages, is found.
        let more: Vec<&str> = all.iter().copied().chain(["r60"]).collect();
        let t = events(Some(&before), &verdict(&more, &[]), &Bulk::default());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].reason, reasons::DEVIATION_FOUND);
        assert!(t[0].note.contains("s/r60"), "{}", t[0].note);
    }

    #[test]
    fn an_unchanged_status_raises_nothing() {
        let v = verdict(&["a"], &["b"]);
        assert!(events(Some(&seen(&["a"], &["b"])), &v, &Bulk::default()).is_empty());
    }

    #[test]
    fn notes_stay_within_a_kilobyte() {
        let many: Vec<String> = (0..200).map(|i| format!("rule-{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let t = events(None, &verdict(&refs, &[]), &Bulk::default());
        assert!(t[0].note.len() <= 1000);
    }

    #[test]
    fn many_workloads_changing_at_once_are_summarised_per_standard() {
        let mut tally = Tally::default();
        let before = seen(&[], &[]);
        let next = verdict(&["a", "b"], &[]);
        let after = status_of(&next);
        for _ in 0..=BULK {
            tally.add(&report_changes(Some(&before), &after));
        }
        let bulk = tally.bulk();
        assert!(bulk.standards.contains("s"), "{bulk:?}");
        // Their own Events leave out what the summary says...
        assert!(events(Some(&before), &next, &bulk).is_empty());
        // ...and the standard gets one, with the count and the rules.
        let (standards, baselines) = tally.summaries(&bulk);
        assert!(baselines.is_empty());
        assert_eq!(standards.len(), 1);
        let (name, t) = &standards[0];
        assert_eq!((name.as_str(), t.reason), ("s", reasons::DEVIATIONS_FOUND));
        assert!(
            t.note
                .starts_with(&format!("{} workloads started deviating", BULK + 1)),
            "{}",
            t.note
        );
        assert!(t.note.contains(&format!("a on {}", BULK + 1)), "{}", t.note);
        // A few workloads changing still get their own Events.
        let mut few = Tally::default();
        for _ in 0..BULK {
            few.add(&report_changes(Some(&before), &after));
        }
        assert_eq!(few.bulk(), Bulk::default());
    }

    /// A standard's status with this ReviewRequired condition, current
    /// review and sunset state.
    fn standard_status(
        required: bool,
        reason: &str,
        review: Option<&str>,
        sunset_passed: Option<bool>,
    ) -> InfrastructureStandardStatus {
        InfrastructureStandardStatus {
            conditions: vec![Condition {
                type_: types::REVIEW_REQUIRED.into(),
                status: if required { "True" } else { "False" }.into(),
                reason: reason.into(),
                message: format!("{reason} in words"),
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    jiff::Timestamp::UNIX_EPOCH,
                ),
                observed_generation: None,
            }],
            review: review.map(|name| crate::api::standard::ReviewSummary {
                name: name.into(),
                reviewed_by: "carol".into(),
                outcome: crate::api::review::ReviewOutcome::Keep,
                reviewed_at: None,
                next_review_due: None,
            }),
            migration: sunset_passed.map(|passed| crate::api::standard::Migration {
                sunset_passed: passed,
                matched: 3,
                migrated: 1,
                remaining: 2,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn reasons_of(events: &[Transition]) -> Vec<&'static str> {
        events.iter().map(|t| t.reason).collect()
    }

    #[test]
    fn each_review_transition_raises_one_event_and_a_restart_none() {
        use crate::engine::review::reasons as r;
        let below = standard_status(false, r::BELOW_THRESHOLD, None, None);
        let required = standard_status(true, r::ACTIVE_EXCEPTIONS_AT_THRESHOLD, None, None);
        let reviewed = standard_status(false, r::REVIEWED, Some("r1"), None);
        let again = standard_status(true, r::NEW_EXCEPTIONS_SINCE_REVIEW, Some("r1"), None);
        let due = standard_status(true, r::REVIEW_DUE, Some("r1"), None);
        let pending = standard_status(false, r::REVISION_PENDING, Some("r2"), None);
        let revised = standard_status(false, r::REVIEWED, Some("r2"), None);
        let cases: &[(
            Option<&InfrastructureStandardStatus>,
            &InfrastructureStandardStatus,
            &[&str],
        )] = &[
            // First status: only an alarm is news.
            (None, &below, &[]),
            (None, &required, &[reasons::STANDARD_REVIEW_REQUIRED]),
            (
                Some(&below),
                &required,
                &[reasons::STANDARD_REVIEW_REQUIRED],
            ),
            (Some(&required), &reviewed, &[reasons::STANDARD_REVIEWED]),
            (
                Some(&reviewed),
                &again,
                &[reasons::STANDARD_REVIEW_REQUIRED],
            ),
            // Required to due is a change of kind.
            (Some(&again), &due, &[reasons::STANDARD_REVIEW_DUE]),
            // A new review, with its decision pending, then carried out.
            (Some(&due), &pending, &[reasons::STANDARD_REVIEWED]),
            (Some(&pending), &revised, &[]),
            // A later review while quiet is news too.
            (Some(&reviewed), &revised, &[reasons::STANDARD_REVIEWED]),
            (Some(&required), &below, &[reasons::STANDARD_REVIEW_CLEARED]),
        ];
        for (before, after, want) in cases {
            assert_eq!(
                reasons_of(&standard(*before, after)),
                *want,
                "{:?} -> {:?}",
                before.map(|b| &b.conditions[0].reason),
                after.conditions[0].reason
            );
        }
        // A restart (or a resync) finds the status it would write: nothing.
        for s in [
            &below, &required, &reviewed, &again, &due, &pending, &revised,
        ] {
            assert!(standard(Some(s), s).is_empty());
        }
    }

    #[test]
    fn a_sunset_raises_one_event_with_the_count_not_migrated() {
        let before = standard_status(false, "NoReviewPolicy", None, Some(false));
        let after = standard_status(false, "NoReviewPolicy", None, Some(true));
        let events = standard(Some(&before), &after);
        assert_eq!(reasons_of(&events), [reasons::STANDARD_SUNSET_PASSED]);
        assert!(events[0].note.contains("2 of 3"), "{}", events[0].note);
        assert!(standard(Some(&after), &after).is_empty());
        // Deprecated with a sunset already past: once, on the first status.
        assert_eq!(
            reasons_of(&standard(None, &after)),
            [reasons::STANDARD_SUNSET_PASSED]
        );
    }
}
