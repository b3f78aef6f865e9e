//! Making the changes on a live cluster: ask RBAC first, dry-run on the server, then apply,
//! journaling each change; a conflict leaves the other writer's change in place.

use super::journal::{Entry, Journal, inverse_patch, trimmed};
use super::plan::{FixPlan, ItemStatus};
use crate::finding::Patch;
use crate::live::{Connection, chain};
use crate::model::ObjectRef;
use crate::model::{PatchType, Safety};
use crate::snapshot::Kind;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, ApiResource, DynamicObject, PatchParams, PostParams};
use serde_json::Value;

const FIELD_MANAGER: &str = "ttdoctor";

fn api_for(conn: &Connection, t: &ObjectRef) -> Result<(Api<DynamicObject>, Kind), String> {
    let kind = Kind::parse(&t.kind).ok_or_else(|| format!("unknown kind {}", t.kind))?;
    let (group, version) = match kind.api_version().split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), kind.api_version().to_string()),
    };
    let ar = ApiResource {
        group,
        version,
        api_version: kind.api_version().to_string(),
        kind: kind.name().to_string(),
        plural: kind.plural().to_string(),
    };
    let api = match (&t.namespace, kind.namespaced()) {
        (Some(ns), true) => Api::namespaced_with(conn.client.clone(), ns, &ar),
        _ => Api::all_with(conn.client.clone(), &ar),
    };
    Ok((api, kind))
}

async fn timed<T>(
    conn: &Connection,
    what: &str,
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    match tokio::time::timeout(conn.timeout, f).await {
        Ok(r) => r,
        Err(_) => Err(kube::Error::Service(
            format!("no answer to {what} within {:?}", conn.timeout).into(),
        )),
    }
}

/// Asks the API whether the user may patch each target; items with a forbidden target are
/// marked `not permitted` so nothing is half-applied.
pub async fn check_permissions(conn: &Connection, plan: &mut FixPlan) {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(conn.client.clone());
    for item in plan
        .items
        .iter_mut()
        .filter(|i| i.status == ItemStatus::Planned)
    {
        for p in &item.patches {
            let Some(kind) = Kind::parse(&p.target.kind) else {
                continue;
            };
            let group = kind
                .api_version()
                .split_once('/')
                .map_or(String::new(), |(g, _)| g.to_string());
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(group),
                        resource: Some(kind.plural().to_string()),
                        verb: Some("patch".into()),
                        namespace: p.target.namespace.clone(),
                        name: Some(p.target.name.clone()),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            // If the review itself cannot be asked, the server-side dry run still guards us.
            if let Ok(r) = timed(
                conn,
                "SelfSubjectAccessReview",
                reviews.create(&PostParams::default(), &review),
            )
            .await
                && r.status.as_ref().is_some_and(|s| !s.allowed)
            {
                let scope = p
                    .target
                    .namespace
                    .as_ref()
                    .map_or("at the cluster scope".to_string(), |n| {
                        format!("in namespace {n}")
                    });
                item.status = ItemStatus::NotPermitted(format!(
                    "cannot patch {} {} {scope}",
                    kind.plural(),
                    p.target.name
                ));
                break;
            }
        }
    }
}

/// The API server answers a JSON patch whose `test` op fails with a bare 422 ("the server
/// rejected our request…"), like any other JSON-patch error. Re-read the object and replay
/// the patch locally to tell a broken precondition (someone changed it) from a bad patch.
async fn explain_rejection(
    api: &Api<DynamicObject>,
    conn: &Connection,
    p: &Patch,
    e: &kube::Error,
) -> ItemStatus {
    if let kube::Error::Api(s) = e
        && s.code == 422
        && p.patch_type == PatchType::Json
        && let Ok(current) = timed(conn, "GET", api.get(&p.target.name)).await
        && let Ok(current) = serde_json::to_value(current)
        && super::plan::apply_locally(&current, p).is_err()
    {
        return ItemStatus::Conflict(format!(
            "changed by someone else since it was read: the patch's precondition no longer holds on {}",
            p.target
        ));
    }
    classify(e)
}

/// How a failed write is reported.
fn classify(e: &kube::Error) -> ItemStatus {
    match e {
        kube::Error::Api(s) if s.code == 409 => ItemStatus::Conflict(format!(
            "changed by someone else since it was read: {}",
            s.message
        )),
        // A failed JSON-patch `test` op: our precondition no longer holds.
        kube::Error::Api(s) if s.code == 422 && s.message.contains("test") => ItemStatus::Conflict(
            format!("changed by someone else since it was read: {}", s.message),
        ),
        kube::Error::Api(s) if s.code == 403 => ItemStatus::NotPermitted(s.message.clone()),
        kube::Error::Api(s) => {
            ItemStatus::Failed(format!("{} {}: {}", s.code, s.reason, s.message))
        }
        other => ItemStatus::Failed(chain(other)),
    }
}

async fn send(
    api: &Api<DynamicObject>,
    conn: &Connection,
    p: &Patch,
    dry_run: bool,
) -> Result<Value, kube::Error> {
    let pp = PatchParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let res = match p.patch_type {
        PatchType::Json => {
            let ops: json_patch::Patch =
                serde_json::from_value(p.body.clone()).map_err(kube::Error::SerdeError)?;
            timed(
                conn,
                "PATCH",
                api.patch(&p.target.name, &pp, &kube::api::Patch::Json::<()>(ops)),
            )
            .await?
        }
        PatchType::Merge => {
            timed(
                conn,
                "PATCH",
                api.patch(&p.target.name, &pp, &kube::api::Patch::Merge(&p.body)),
            )
            .await?
        }
    };
    serde_json::to_value(res).map_err(kube::Error::SerdeError)
}

/// Which items to apply.
pub struct ApplyOptions<'a> {
    pub allow_unsafe: bool,
    /// Asked per item (`--apply` on a terminal); `None` applies without asking.
    pub confirm: Option<&'a mut dyn FnMut(&super::PlanItem) -> bool>,
}

/// Applies the planned items: every patch of an item is dry-run on the server before any is
/// sent for real; each real change is journaled as it lands.
pub async fn apply(
    conn: &Connection,
    plan: &mut FixPlan,
    mut opts: ApplyOptions<'_>,
    journal: &Journal,
    run: &str,
) -> Result<usize, String> {
    // With --unsafe, a durable fix replaces the plain fix of the same findings.
    let durable: Vec<String> = if opts.allow_unsafe {
        plan.items
            .iter()
            .filter(|i| i.durable && i.status == ItemStatus::Planned)
            .flat_map(|i| i.fingerprints.clone())
            .collect()
    } else {
        Vec::new()
    };
    let writer = Writer { conn, journal, run };
    let mut applied = 0;
    for item in &mut plan.items {
        if item.status != ItemStatus::Planned {
            continue;
        }
        if let Some(skip) = skip_reason(item, &durable, &mut opts) {
            item.status = ItemStatus::Skipped(skip.into());
            continue;
        }
        let (n, status) = writer.item(item).await?;
        applied += n;
        item.status = status;
    }
    Ok(applied)
}

/// Why a planned item is not applied, if it is not.
fn skip_reason(
    item: &super::PlanItem,
    durable: &[String],
    opts: &mut ApplyOptions<'_>,
) -> Option<&'static str> {
    if !item.durable && !durable.is_empty() && item.fingerprints.iter().all(|f| durable.contains(f))
    {
        return Some("superseded by the durable fix of the same finding");
    }
    if item.safety == Safety::Unsafe && !opts.allow_unsafe {
        return Some("unsafe: pass --unsafe to apply");
    }
    let declined = opts.confirm.as_mut().is_some_and(|confirm| !confirm(item));
    declined.then_some("declined")
}

/// Makes one item's changes and journals each.
struct Writer<'a> {
    conn: &'a Connection,
    journal: &'a Journal,
    run: &'a str,
}

impl Writer<'_> {
    /// The changes made and the item's status.
    async fn item(&self, item: &super::PlanItem) -> Result<(usize, ItemStatus), String> {
        let apis: Result<Vec<_>, String> = item
            .patches
            .iter()
            .map(|p| api_for(self.conn, &p.target).map(|a| a.0))
            .collect();
        let apis = match apis {
            Ok(a) => a,
            Err(e) => return Ok((0, ItemStatus::Failed(e))),
        };
        // 1. Server-side dry run of every patch: admission, validation and preconditions.
        for (api, p) in apis.iter().zip(&item.patches) {
            if let Err(e) = send(api, self.conn, p, true).await {
                return Ok((0, explain_rejection(api, self.conn, p, &e).await));
            }
        }
        // 2. The real thing, journaled one patch at a time.
        let mut applied = 0;
        for (api, p) in apis.iter().zip(&item.patches) {
            match self.patch(api, p, &item.rule_id).await? {
                None => applied += 1,
                Some(status) => return Ok((applied, status)),
            }
        }
        // 3. Commands in containers, in order; the first failure stops the item.
        for e in &item.execs {
            match run_exec(self.conn, e).await {
                Ok(output) => {
                    self.journal.append(&Entry {
                        run: self.run.to_string(),
                        action: "exec".into(),
                        undoes: None,
                        time: super::journal::now(),
                        rule: item.rule_id.clone(),
                        target: e.target.clone(),
                        patch_type: PatchType::Json,
                        patch: serde_json::json!({"container": e.container, "command": e.command}),
                        before: Value::Null,
                        after: Value::String(output),
                    })?;
                    applied += 1;
                }
                Err(status) => return Ok((applied, status)),
            }
        }
        Ok((applied, ItemStatus::Applied))
    }

    /// Sends one patch for real and journals it; the failure status if it did not land.
    async fn patch(
        &self,
        api: &Api<DynamicObject>,
        p: &Patch,
        rule: &str,
    ) -> Result<Option<ItemStatus>, String> {
        let before = match timed(self.conn, "GET", api.get(&p.target.name)).await {
            Ok(o) => trimmed(serde_json::to_value(o).map_err(|e| e.to_string())?),
            Err(e) => return Ok(Some(classify(&e))),
        };
        match send(api, self.conn, p, false).await {
            Err(e) if matches!(&e, kube::Error::Api(s) if s.code == 422) => {
                Ok(Some(explain_rejection(api, self.conn, p, &e).await))
            }
            Err(e) => Ok(Some(classify(&e))),
            Ok(after) => {
                self.journal.append(&Entry {
                    run: self.run.to_string(),
                    action: "fix".into(),
                    undoes: None,
                    time: super::journal::now(),
                    rule: rule.to_string(),
                    target: p.target.clone(),
                    patch_type: p.patch_type,
                    patch: p.body.clone(),
                    before,
                    after: trimmed(after),
                })?;
                Ok(None)
            }
        }
    }
}

/// Runs one command through pods/exec; its output (stdout, then stderr) or why it failed.
async fn run_exec(conn: &Connection, e: &crate::finding::Exec) -> Result<String, ItemStatus> {
    use kube::api::AttachParams;
    use tokio::io::AsyncReadExt;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(
        conn.client.clone(),
        e.target.namespace.as_deref().unwrap_or("default"),
    );
    let params = AttachParams::default()
        .container(e.container.clone())
        .stdout(true)
        .stderr(true);
    let what = format!("exec in {} (container {})", e.target, e.container);
    let work =
        async {
            let mut proc = pods
                .exec(&e.target.name, e.command.clone(), &params)
                .await
                .map_err(|err| classify(&err))?;
            // Drain both streams at once: the pipes are bounded, so reading one to the end
            // first can stall the command on the other.
            let (stdout, stderr) = (proc.stdout(), proc.stderr());
            let read = |r: Option<tokio::io::ReadHalf<tokio::io::SimplexStream>>| async move {
                let mut s = String::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_string(&mut s).await;
                }
                s
            };
            let (out, err) = tokio::join!(read(stdout), read(stderr));
            let status = match proc.take_status() {
                Some(s) => s.await,
                None => None,
            };
            let _ = proc.join().await;
            match status {
                Some(s) if s.status.as_deref() == Some("Failure") => Err(ItemStatus::Failed(
                    format!("{what}: {} {}", s.message.unwrap_or_default(), err.trim()),
                )),
                _ => Ok(format!("{out}{err}")),
            }
        };
    // Exec has no timeout of its own; the command gets a few request timeouts to finish.
    match tokio::time::timeout(conn.timeout * 6, work).await {
        Ok(r) => r,
        Err(_) => Err(ItemStatus::Failed(format!(
            "{what}: no result within {:?}",
            conn.timeout * 6
        ))),
    }
}

/// What happened to one journaled change on undo.
pub struct UndoResult {
    pub target: ObjectRef,
    pub outcome: Result<(), String>,
}

/// Reverts the entries of one run, newest first, each guarded by the resourceVersion the fix
/// left: an object changed since is refused and left alone.
pub async fn undo(
    conn: &Connection,
    entries: &[Entry],
    journal: &Journal,
    run: &str,
    undoes: &str,
) -> Vec<UndoResult> {
    let mut results = Vec::new();
    for e in entries.iter().rev() {
        let outcome = undo_one(conn, e, journal, run, undoes).await;
        results.push(UndoResult {
            target: e.target.clone(),
            outcome,
        });
    }
    results
}

async fn undo_one(
    conn: &Connection,
    e: &Entry,
    journal: &Journal,
    run: &str,
    undoes: &str,
) -> Result<(), String> {
    let (api, _) = api_for(conn, &e.target)?;
    let current = timed(conn, "GET", api.get(&e.target.name))
        .await
        .map_err(|err| chain(&err))?;
    let current = trimmed(serde_json::to_value(current).map_err(|err| err.to_string())?);
    let inverse = inverse_patch(e);
    let body = serde_json::to_value(&inverse).map_err(|err| err.to_string())?;
    let patch = Patch {
        target: e.target.clone(),
        patch_type: PatchType::Json,
        body: body.clone(),
    };
    let refuse = |err: kube::Error| match &err {
        // The inverse patch's `test` ops failed: a field the fix set was changed since.
        kube::Error::Api(s) if s.code == 422 => format!(
            "refused: {} changed since ttdoctor fixed it (a field the fix set no longer holds the value it set); left alone",
            e.target
        ),
        _ => describe(&classify(&err)),
    };
    send(&api, conn, &patch, true).await.map_err(refuse)?;
    let after = send(&api, conn, &patch, false).await.map_err(refuse)?;
    journal.append(&Entry {
        run: run.to_string(),
        action: "undo".into(),
        undoes: Some(undoes.to_string()),
        time: super::journal::now(),
        rule: e.rule.clone(),
        target: e.target.clone(),
        patch_type: PatchType::Json,
        patch: body,
        before: current,
        after: trimmed(after),
    })
}

pub fn describe(s: &ItemStatus) -> String {
    match s {
        ItemStatus::Planned => "planned".into(),
        ItemStatus::Manual => "manual".into(),
        ItemStatus::NotPermitted(m) => format!("not permitted: {m}"),
        ItemStatus::Skipped(m) => format!("skipped: {m}"),
        ItemStatus::Conflict(m) => format!("conflict: {m}"),
        ItemStatus::Failed(m) => format!("failed: {m}"),
        ItemStatus::Applied => "applied (not verified yet)".into(),
        ItemStatus::Verified => "applied and verified".into(),
        ItemStatus::StillFailing(m) => format!("applied, still failing: {m}"),
    }
}

/// After a re-check: an applied item is verified when none of its findings is left.
pub fn verify(plan: &mut FixPlan, after: &crate::finding::Report) {
    for item in plan
        .items
        .iter_mut()
        .filter(|i| i.status == ItemStatus::Applied)
    {
        let left: Vec<String> = after
            .active()
            .filter(|f| item.fingerprints.contains(&f.fingerprint))
            .map(|f| f.message.clone())
            .collect();
        item.status = if left.is_empty() {
            ItemStatus::Verified
        } else {
            ItemStatus::StillFailing(left.join(" | "))
        };
    }
}
