//! `create_image`: an AMI of an instance, waited for until available. Rebooted by default; or,
//! with `freeze`, the seeds' hybrid for a system that must not stop: each filesystem frozen
//! through SSM (`fsfreeze -f`), CreateImage with NoReboot, and thawed as soon as CreateImage
//! answers (its snapshots' point in time is then fixed), never waiting for `available`.
//!
//! A frozen filesystem blocks every write on a production host, so the thaw always happens:
//! after a failed freeze or CreateImage the step thaws before it fails; after a timeout or an
//! interruption the executor thaws what the step left frozen (`exec::ctx::Thaw`); and if
//! rebound itself dies, a watchdog the freeze starts on the instance thaws after
//! `FREEZE_LIMIT`. Only a rebooted image, or one whose filesystems were still frozen when the
//! thaw came (the thaw's exit code says so), is tagged Safe=True.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Definition;
use super::shared::{adopt_one, tags_with};
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, CloudError, ImageRequest, Op, ResourceKind, Tags};
use crate::exec::api::Api;
use crate::exec::ctx::{Ctx, Done, StepError, Thaw};
use crate::exec::model::Created;
use crate::exec::poller::{Looks, Want};
use crate::policy::builder::{
    ANY, Builder, Sid, condition, literals, request_tagged, resource_tagged,
};
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, INSTANCE, Kind, STR, STR_MAP, STRS, Ty, opt, req};

pub(crate) struct CreateImage;

static SCHEMA: ActionSchema = ActionSchema {
    name: "create_image",
    fields: &[
        req("instance", INSTANCE),
        opt("reboot", Ty::Bool),
        opt("freeze", STRS),
        opt("name", STR),
        opt("tags", STR_MAP),
    ],
    one_of: &[],
    outputs: &[("id", Ty::Str(Kind::Image))],
};

impl Definition for CreateImage {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        // The checker refuses `freeze` with `reboot = true`.
        let frozen = !i.freeze.is_empty();
        let reboot = i.reboot.unwrap_or(!frozen);
        let mut own = i.tags;
        own.insert("CreatedBy".into(), "rebound".into());
        own.insert("Source".into(), i.instance.clone());
        // Only a rebooted image is consistent enough to restore from; a frozen one earns
        // Safe=True after its thaw shows the filesystems stayed frozen.
        own.insert("Safe".into(), if reboot { "True" } else { "False" }.into());
        let request = ImageRequest {
            name: i
                .name
                .unwrap_or_else(|| format!("rebound-{}-{}", ctx.step, ctx.run_id)),
            instance: i.instance.clone(),
            reboot,
            tags: tags_with(&ctx.tags, own),
        };
        let token = ctx.token("image");
        let create = async || {
            ctx.once(
                Op::CreateImage,
                &token,
                async || adopt_one(ctx, ResourceKind::Image).await,
                async || ctx.api.create_image(&request).await,
                |id: &String| vec![Created::new(ResourceKind::Image, id, None)],
            )
            .await
        };
        // An image asked for before (a retry, a resume) is not frozen for again, and not tagged
        // Safe: whether its filesystems stayed frozen cannot be shown now.
        let made_before = ctx.journal.call(&token).is_some();
        let id = if frozen && !made_before {
            let id = frozen_image(ctx, &i.instance, &i.freeze, create).await?;
            let safe = Tags::from([("Safe".to_string(), "True".to_string())]);
            ctx.api.tag(ResourceKind::Image, &id, &safe).await?;
            id
        } else {
            create().await?
        };
        let look = Looks::expecting(ctx.model.create_image);
        let o = ctx
            .pollers
            .images
            .wait(&id, Want::State("available"), look)
            .await?;
        let mut done = Done::default();
        done.ready(o.ready_at);
        done.outputs = Outputs { id };
        Ok(done)
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        let scope = b.scope().clone();
        // The image poller waits for `available`.
        b.describe(&["ec2:DescribeImages"]);
        let made = [
            scope.ec2_shared("image", ANY),
            scope.ec2_shared("snapshot", ANY),
        ];
        b.allow(Sid::Image, &["ec2:CreateImage"], made.clone())
            .when(request_tagged());
        // The source is an instance the run made (launched, or restored and tagged), or one the
        // runbook names by id (which carries no run tag), by its own ARN.
        b.allow(
            Sid::ImageSource,
            &["ec2:CreateImage"],
            [scope.ec2("instance", ANY)],
        )
        .when(resource_tagged());
        let named: Vec<String> = literals(fields.get("instance"))
            .into_iter()
            .flatten()
            .map(|id| scope.ec2("instance", id))
            .collect();
        if !named.is_empty() {
            b.allow(Sid::ImageSourceNamed, &["ec2:CreateImage"], named.clone());
        }
        b.tag_on_create("CreateImage", made.clone());
        if fields.get("freeze").is_some() {
            super::ssm::statements(b);
            // The source is frozen through SSM: an instance the runbook names carries no run
            // tag, so SendCommand is allowed on it by its ARN. One known only at run time is
            // the run's (launched or restored): `RunCommandOn`.
            if !named.is_empty() {
                b.allow(Sid::RunCommandOnNamed, &["ssm:SendCommand"], named.clone());
            }
            // Safe=True, once the thaw showed the image consistent, on the run's own image.
            let safe = b.allow(Sid::TagImageSafe, &["ec2:CreateTags"], [made[0].clone()]);
            safe.when(resource_tagged());
            safe.when(condition(
                "ForAllValues:StringEquals",
                "aws:TagKeys",
                &["Safe"],
            ));
        }
        b.teardown(&["ec2:DeleteSnapshot", "ec2:DeregisterImage"], made);
    }

    fn expected_seconds(fields: &Fields, m: &LatencyModel) -> f64 {
        let freeze = if fields.get("freeze").is_some() {
            2.0 * m.command.median
        } else {
            0.0
        };
        freeze + m.create_image.median
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    instance: String,
    reboot: Option<bool>,
    #[serde(default)]
    freeze: Vec<String>,
    name: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    id: String,
}

/// How long a filesystem may stay frozen if rebound cannot thaw it (it died): the watchdog the
/// freeze starts on the instance thaws then. A freeze, CreateImage's answer and the thaw take
/// seconds; an image whose thaw comes later than this is not consistent and not Safe.
pub(crate) const FREEZE_LIMIT: Duration = Duration::from_secs(60);

/// Freezes `paths`, makes the image, and thaws, whatever happened in between; the image's id
/// once the thaw showed every path was still frozen.
async fn frozen_image<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    instance: &str,
    paths: &[String],
    create: impl AsyncFn() -> Result<String, StepError>,
) -> Result<String, StepError> {
    super::ssm::online(ctx.api, &[instance.to_string()], ctx.progress).await?;
    let thaw = Thaw {
        instance: instance.to_string(),
        paths: paths.to_vec(),
        marker: ctx.token(&format!("freeze@{:.3}", (ctx.at)())),
    };
    // Registered before the freeze is sent: from here on, the executor thaws if the step is
    // dropped (a timeout, an interruption).
    ctx.thaws.borrow_mut().push(thaw.clone());
    let froze = super::ssm::run_now(
        ctx.api,
        &thaw.marker,
        std::slice::from_ref(&thaw.instance),
        freeze_script(&thaw),
    )
    .await;
    let froze = match froze {
        Ok(ran)
            if ran
                .iter()
                .all(|i| i.status == "Success" && i.exit_code == 0) =>
        {
            Ok(())
        }
        Ok(ran) => Err(StepError::Failed(format!(
            "the freeze failed, nothing was imaged: {}",
            ran.iter()
                .map(|i| super::ssm::failure("fsfreeze", i))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        Err(e) => Err(StepError::Failed(format!(
            "the freeze failed, nothing was imaged: {e}"
        ))),
    };
    if froze.is_ok() {
        (ctx.progress)(format!("froze {} on {instance}", paths.join(", ")));
    }
    let made = match froze {
        Ok(()) => create().await,
        Err(e) => Err(e),
    };
    // CreateImage answered (or failed, or the freeze did): thaw now, not when the image is
    // available.
    let thawed = thaw_now(ctx.api, &thaw).await;
    ctx.thaws.borrow_mut().retain(|t| t != &thaw);
    let id = made?;
    match thawed {
        Ok(true) => {
            (ctx.progress)(format!("thawed {} on {instance}", paths.join(", ")));
            Ok(id)
        }
        Ok(false) => Err(StepError::Failed(format!(
            "image {id} is not consistent: a filesystem of {instance} was no longer frozen when \
             the thaw came (the {}s watchdog thawed it first); it stays Safe=False",
            FREEZE_LIMIT.as_secs()
        ))),
        Err(e) => Err(StepError::Failed(format!(
            "image {id} was made, but the thaw of {instance} failed ({e}): the watchdog thaws \
             {} within {}s; the image stays Safe=False",
            paths.join(", "),
            FREEZE_LIMIT.as_secs()
        ))),
    }
}

/// Thaws what a freeze froze: `Ok(true)` when every path was still frozen (the image made in
/// between is consistent), `Ok(false)` when one no longer was. The executor calls it for a
/// freeze a step left behind.
pub(crate) async fn thaw_now<C: Cloud>(api: &Api<'_, C>, thaw: &Thaw) -> Result<bool, CloudError> {
    let comment = format!("{}-thaw", thaw.marker);
    let on = [thaw.instance.clone()];
    let ran = super::ssm::run_now(api, &comment, &on, thaw_script(thaw));
    // An agent that stopped answering would keep the thaw in progress until SSM times it out
    // (an hour); the watchdog thaws long before.
    let ran = tokio::time::timeout(THAW_WAIT, ran).await.map_err(|_| {
        CloudError::new(
            "ThawTimedOut",
            format!("no answer to the thaw in {}s", THAW_WAIT.as_secs()),
        )
    })??;
    match ran.first() {
        Some(i) if i.status == "Success" && i.exit_code == 0 => Ok(true),
        Some(i) if i.exit_code == NOT_FROZEN => Ok(false),
        Some(i) => Err(CloudError::new(
            "ThawFailed",
            super::ssm::failure("fsfreeze -u", i),
        )),
        None => Err(CloudError::new("ThawFailed", "no result from the thaw")),
    }
}

/// How long the thaw's result is waited for.
const THAW_WAIT: Duration = Duration::from_secs(120);

/// The thaw script's exit code when a path was not frozen any more.
const NOT_FROZEN: i32 = 3;

/// A path as one shell word.
fn quoted(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

/// Starts the watchdog (first, so that a freeze that fails half-way is thawed too), then
/// freezes each path.
fn freeze_script(t: &Thaw) -> Vec<String> {
    let thaws: Vec<String> = t
        .paths
        .iter()
        .map(|p| format!("fsfreeze -u {} 2>/dev/null", quoted(p)))
        .collect();
    let watchdog = format!(
        "sleep {}; {}; : {}",
        FREEZE_LIMIT.as_secs(),
        thaws.join("; "),
        t.marker
    );
    let mut lines = vec![
        "set -e".to_string(),
        format!(
            "nohup setsid sh -c {} >/dev/null 2>&1 < /dev/null &",
            quoted(&watchdog)
        ),
    ];
    lines.extend(t.paths.iter().map(|p| format!("fsfreeze -f {}", quoted(p))));
    lines
}

/// Thaws each path (exit `NOT_FROZEN` if one was not frozen), then stops the watchdog.
fn thaw_script(t: &Thaw) -> Vec<String> {
    let mut lines = vec!["rc=0".to_string()];
    lines.extend(
        t.paths
            .iter()
            .map(|p| format!("fsfreeze -u {} || rc={NOT_FROZEN}", quoted(p))),
    );
    lines.push(format!("pkill -f {} || true", quoted(&t.marker)));
    lines.push("exit $rc".to_string());
    lines
}
