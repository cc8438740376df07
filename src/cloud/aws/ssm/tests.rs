//! SSM Run Command on the SDK's mocks, for what moto cannot show (moto 5.2.5 has no
//! DescribeInstanceInformation or ListCommandInvocations, and every command it is sent
//! "succeeds" at once without running): an agent that never comes online, a failing command,
//! an invocation SSM does not know yet, a SendCommand whose answer was lost, a resume that
//! follows the command already sent, and a freeze whose CreateImage fails.

use std::sync::{Arc, Mutex};

use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_image::{CreateImageError, CreateImageOutput};
use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
use aws_sdk_ssm::operation::list_command_invocations::{
    ListCommandInvocationsError, ListCommandInvocationsOutput,
};
use aws_sdk_ssm::operation::list_commands::ListCommandsOutput;
use aws_sdk_ssm::operation::send_command::SendCommandOutput;
use aws_sdk_ssm::types::{
    Command, CommandInvocation, CommandInvocationStatus, CommandPlugin, InstanceInformation,
    PingStatus,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};

use crate::cloud::Op;
use crate::cloud::aws::Aws;
use crate::cloud::aws::tests::{mocked, run_journaled};
use crate::exec::journal::{Entry, Journal};
use crate::exec::{Outcome, RunRecord, StepRecord};

/// DescribeInstanceInformation: these instances' agents are online.
fn online(ids: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_ssm::Client::describe_instance_information).then_output(move || {
        ids.iter()
            .fold(DescribeInstanceInformationOutput::builder(), |b, id| {
                b.instance_information_list(
                    InstanceInformation::builder()
                        .instance_id(*id)
                        .ping_status(PingStatus::Online)
                        .build(),
                )
            })
            .build()
    })
}

/// One instance's finished invocation.
fn invocation(
    instance: &str,
    status: CommandInvocationStatus,
    code: i32,
    out: &str,
) -> CommandInvocation {
    CommandInvocation::builder()
        .command_id("cmd-1")
        .instance_id(instance)
        .status(status)
        .command_plugins(
            CommandPlugin::builder()
                .name("aws:runShellScript")
                .response_code(code)
                .output(out)
                .build(),
        )
        .build()
}

/// A ListCommandInvocations answer: `i-0web`'s one invocation.
fn listed(status: CommandInvocationStatus, code: i32, out: &str) -> ListCommandInvocationsOutput {
    ListCommandInvocationsOutput::builder()
        .command_invocations(invocation("i-0web", status, code, out))
        .build()
}

/// ListCommandInvocations: `i-0web` ended with `code`.
fn ended(code: i32, out: &'static str) -> Rule {
    let status = if code == 0 {
        CommandInvocationStatus::Success
    } else {
        CommandInvocationStatus::Failed
    };
    mock!(aws_sdk_ssm::Client::list_command_invocations).then_output(move || {
        ListCommandInvocationsOutput::builder()
            .command_invocations(invocation("i-0web", status.clone(), code, out))
            .build()
    })
}

fn sent(id: &'static str) -> Rule {
    mock!(aws_sdk_ssm::Client::send_command).then_output(move || {
        SendCommandOutput::builder()
            .command(Command::builder().command_id(id).build())
            .build()
    })
}

/// `step STEP = ...` on EC2 and SSM answering from the rules, with `journal`.
fn on(step: &str, ec2: &[&Rule], ssm: &[&Rule], journal: &Journal) -> StepRecord {
    let text = format!("runbook \"s\" {{\n  {step}\n}}\n");
    let aws = Aws::from_clients(mocked!(aws_sdk_ec2, ec2), mocked!(aws_sdk_backup, &[]))
        .with_ssm(mocked!(aws_sdk_ssm, ssm));
    let (_, record): (_, RunRecord) = run_journaled(&text, aws, journal);
    record.steps[0].clone()
}

const RUN: &str =
    r#"step run = run_command { instances = ["i-0web"], command = "xfs_repair -n /dev/nvme1n1" }"#;

#[test]
fn a_command_passes_with_its_exit_code_and_output() {
    let (agents, send, listed) = (online(&["i-0web"]), sent("cmd-1"), ended(0, "clean\n"));
    let r = on(RUN, &[], &[&agents, &send, &listed], &Journal::memory());
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{:?}", r.error);
    assert_eq!(r.outputs["exit_code"]["i-0web"], 0);
    assert_eq!(r.outputs["stdout"]["i-0web"], "clean\n");
    assert_eq!(send.num_calls(), 1);
}

#[test]
fn a_failing_command_fails_the_step_unless_its_code_is_allowed() {
    let (agents, send, listed) = (
        online(&["i-0web"]),
        sent("cmd-1"),
        ended(1, "bad inode 42\n"),
    );
    let r = on(RUN, &[], &[&agents, &send, &listed], &Journal::memory());
    assert_eq!(r.outcome, Some(Outcome::Failed));
    let error = r.error.unwrap_or_default();
    assert!(error.contains("i-0web: exit 1: bad inode 42"), "{error}");

    let allowed = RUN.replace(" }", ", exit_codes = [0, 1] }");
    let r = on(
        &allowed,
        &[],
        &[&agents, &send, &listed],
        &Journal::memory(),
    );
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{:?}", r.error);
    assert_eq!(r.outputs["exit_code"]["i-0web"], 1);
}

#[test]
fn an_agent_that_never_comes_online_fails_the_step_naming_what_is_missing() {
    let nobody = mock!(aws_sdk_ssm::Client::describe_instance_information)
        .then_output(|| DescribeInstanceInformationOutput::builder().build());
    let send = sent("cmd-1");
    let r = on(RUN, &[], &[&nobody, &send], &Journal::memory());
    assert_eq!(r.outcome, Some(Outcome::Failed));
    let error = r.error.unwrap_or_default();
    for needed in [
        "i-0web never registered with SSM",
        "SSM agent",
        "AmazonSSMManagedInstanceCore",
        "ssm, ssmmessages and ec2messages endpoints",
    ] {
        assert!(error.contains(needed), "{needed:?} not in {error}");
    }
    assert_eq!(
        send.num_calls(),
        0,
        "nothing is sent to an instance SSM cannot reach"
    );
    // Looked at every few seconds for ten minutes (on the paused clock), not once.
    assert!(nobody.num_calls() > 60, "{} looks", nobody.num_calls());
}

#[test]
fn an_invocation_ssm_does_not_know_yet_is_looked_for_again() {
    let not_yet = || {
        ListCommandInvocationsError::generic(
            ErrorMetadata::builder()
                .code("InvocationDoesNotExist")
                .message("The invocation does not exist")
                .build(),
        )
    };
    let listed = mock!(aws_sdk_ssm::Client::list_command_invocations)
        .sequence()
        .error(not_yet)
        .times(2)
        // Known, but no invocation made for the instance yet.
        .output(|| ListCommandInvocationsOutput::builder().build())
        .output(|| listed(CommandInvocationStatus::InProgress, -1, ""))
        .output(|| {
            ListCommandInvocationsOutput::builder()
                .command_invocations(invocation(
                    "i-0web",
                    CommandInvocationStatus::Success,
                    0,
                    "ok\n",
                ))
                .build()
        })
        .build();
    let (agents, send) = (online(&["i-0web"]), sent("cmd-1"));
    let r = on(RUN, &[], &[&agents, &send, &listed], &Journal::memory());
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{:?}", r.error);
    assert_eq!(listed.num_calls(), 5);
    assert_eq!(r.outputs["stdout"]["i-0web"], "ok\n");
}

/// The token of `run`'s command in run `mock-run`: its SendCommand comment.
fn token() -> String {
    crate::exec::ctx::token("mock-run", "run", "ssm/run/0/0")
}

#[test]
fn a_send_command_whose_answer_was_lost_is_found_by_its_comment_not_sent_again() {
    // The command was made, and the answer lost: a bare 500.
    let send = mock!(aws_sdk_ssm::Client::send_command)
        .sequence()
        .http_status(500, None)
        .output(|| {
            SendCommandOutput::builder()
                .command(Command::builder().command_id("cmd-2").build())
                .build()
        })
        .build();
    let comment = token();
    let listed = mock!(aws_sdk_ssm::Client::list_commands).then_output(move || {
        ListCommandsOutput::builder()
            .commands(
                Command::builder()
                    .command_id("cmd-other")
                    .comment("someone else's")
                    .build(),
            )
            .commands(
                Command::builder()
                    .command_id("cmd-1")
                    .comment(&comment)
                    .build(),
            )
            .build()
    });
    let (agents, results) = (online(&["i-0web"]), ended(0, "clean\n"));
    let r = on(
        RUN,
        &[],
        &[&agents, &send, &listed, &results],
        &Journal::memory(),
    );
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{:?}", r.error);
    assert_eq!(
        send.num_calls(),
        1,
        "the lost call only: never resent blind"
    );
    assert_eq!(listed.num_calls(), 1);
}

#[test]
fn a_resume_follows_the_command_sent_before_instead_of_running_it_again() {
    let journal = Journal::memory();
    let at = 1.0;
    journal.note(&Entry::Intent {
        step: "run".into(),
        op: Op::SendCommand,
        token: token(),
        at,
    });
    journal.note(&Entry::Answer {
        step: "run".into(),
        op: Op::SendCommand,
        token: token(),
        answer: serde_json::json!("cmd-1"),
        error: None,
        created: Vec::new(),
        at,
    });
    let (agents, send, results) = (online(&["i-0web"]), sent("cmd-new"), ended(0, "clean\n"));
    let r = on(RUN, &[], &[&agents, &send, &results], &journal);
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{:?}", r.error);
    assert_eq!(
        send.num_calls(),
        0,
        "the script ran once, before the interruption"
    );
    assert_eq!(results.num_calls(), 1);

    // Interrupted mid-call (an intent, no answer): the command is found by its comment.
    let journal = Journal::memory();
    journal.note(&Entry::Intent {
        step: "run".into(),
        op: Op::SendCommand,
        token: token(),
        at,
    });
    let comment = token();
    let find = mock!(aws_sdk_ssm::Client::list_commands).then_output(move || {
        ListCommandsOutput::builder()
            .commands(
                Command::builder()
                    .command_id("cmd-1")
                    .comment(&comment)
                    .build(),
            )
            .build()
    });
    let r = on(RUN, &[], &[&agents, &send, &find, &results], &journal);
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{:?}", r.error);
    assert_eq!(send.num_calls(), 0, "adopted, not sent again");
}

/// The scripts SendCommand was given, in order.
fn recording(scripts: &Arc<Mutex<Vec<String>>>) -> Rule {
    let scripts = Arc::clone(scripts);
    mock!(aws_sdk_ssm::Client::send_command)
        .match_requests(move |r| {
            let script = r
                .parameters()
                .and_then(|p| p.get("commands"))
                .map(|c| c.join("\n"))
                .unwrap_or_default();
            scripts.lock().map(|mut s| s.push(script)).is_ok()
        })
        .then_output(|| {
            SendCommandOutput::builder()
                .command(Command::builder().command_id("cmd-1").build())
                .build()
        })
}

const FREEZE: &str =
    r#"step image = create_image { instance = "i-0web", freeze = ["/data"], timeout = 30m }"#;

#[test]
fn a_freeze_whose_create_image_fails_is_thawed_all_the_same() {
    let scripts = Arc::new(Mutex::new(Vec::new()));
    let send = recording(&scripts);
    let refused = mock!(aws_sdk_ec2::Client::create_image).then_error(|| {
        CreateImageError::generic(
            ErrorMetadata::builder()
                .code("InvalidParameterValue")
                .message("no such device")
                .build(),
        )
    });
    // After a failed CreateImage, what it might have made is looked for: nothing.
    let none = mock!(aws_sdk_ec2::Client::describe_images).then_output(|| {
        aws_sdk_ec2::operation::describe_images::DescribeImagesOutput::builder().build()
    });
    let (agents, results) = (online(&["i-0web"]), ended(0, ""));
    let r = on(
        FREEZE,
        &[&refused, &none],
        &[&agents, &send, &results],
        &Journal::memory(),
    );
    assert_eq!(r.outcome, Some(Outcome::Failed));
    assert!(
        r.error
            .clone()
            .unwrap_or_default()
            .contains("InvalidParameterValue"),
        "{:?}",
        r.error
    );
    let scripts = scripts.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(scripts.len(), 2, "a freeze, then a thaw: {scripts:?}");
    assert!(scripts[0].contains("fsfreeze -f '/data'"), "{}", scripts[0]);
    // The watchdog is started before the filesystem is frozen.
    assert!(
        scripts[0].find("nohup setsid") < scripts[0].find("fsfreeze -f"),
        "{}",
        scripts[0]
    );
    assert!(scripts[1].contains("fsfreeze -u '/data'"), "{}", scripts[1]);
    assert_eq!(refused.num_calls(), 1);
}

#[test]
fn a_frozen_image_is_safe_only_when_the_thaw_found_it_still_frozen() {
    for (thaw_code, safe) in [(0, true), (3, false)] {
        let scripts = Arc::new(Mutex::new(Vec::new()));
        let send = recording(&scripts);
        let made = mock!(aws_sdk_ec2::Client::create_image)
            .match_requests(|r| r.no_reboot() == Some(true))
            .then_output(|| CreateImageOutput::builder().image_id("ami-0frozen").build());
        let safe_tag = mock!(aws_sdk_ec2::Client::create_tags)
            .match_requests(|r| {
                r.resources() == ["ami-0frozen"]
                    && r.tags()
                        .iter()
                        .any(|t| t.key() == Some("Safe") && t.value() == Some("True"))
            })
            .then_output(|| {
                aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build()
            });
        let available = mock!(aws_sdk_ec2::Client::describe_images).then_output(|| {
            aws_sdk_ec2::operation::describe_images::DescribeImagesOutput::builder()
                .images(
                    aws_sdk_ec2::types::Image::builder()
                        .image_id("ami-0frozen")
                        .state(aws_sdk_ec2::types::ImageState::Available)
                        .build(),
                )
                .build()
        });
        // The freeze succeeds; the thaw exits with `thaw_code`.
        let results = mock!(aws_sdk_ssm::Client::list_command_invocations)
            .sequence()
            .output(|| {
                ListCommandInvocationsOutput::builder()
                    .command_invocations(invocation(
                        "i-0web",
                        CommandInvocationStatus::Success,
                        0,
                        "",
                    ))
                    .build()
            })
            .output(move || {
                let status = if thaw_code == 0 {
                    CommandInvocationStatus::Success
                } else {
                    CommandInvocationStatus::Failed
                };
                ListCommandInvocationsOutput::builder()
                    .command_invocations(invocation("i-0web", status, thaw_code, ""))
                    .build()
            })
            .build();
        let agents = online(&["i-0web"]);
        let r = on(
            FREEZE,
            &[&made, &safe_tag, &available],
            &[&agents, &send, &results],
            &Journal::memory(),
        );
        assert_eq!(
            r.outcome == Some(Outcome::Succeeded),
            safe,
            "{thaw_code}: {:?}",
            r.error
        );
        assert_eq!(safe_tag.num_calls(), usize::from(safe), "{thaw_code}");
        assert_eq!(made.num_calls(), 1);
        if !safe {
            let error = r.error.clone().unwrap_or_default();
            assert!(
                error.contains("not consistent") && error.contains("Safe=False"),
                "{error}"
            );
        }
    }
}

#[test]
fn a_freeze_left_by_a_step_that_timed_out_is_thawed_by_the_executor() {
    let scripts = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&scripts);
    let send = mock!(aws_sdk_ssm::Client::send_command)
        .match_requests(move |r| {
            let script = r
                .parameters()
                .and_then(|p| p.get("commands"))
                .map(|c| c.join("\n"));
            record
                .lock()
                .map(|mut s| s.push(script.unwrap_or_default()))
                .is_ok()
        })
        .sequence()
        .output(|| {
            SendCommandOutput::builder()
                .command(Command::builder().command_id("cmd-freeze").build())
                .build()
        })
        .output(|| {
            SendCommandOutput::builder()
                .command(Command::builder().command_id("cmd-thaw").build())
                .build()
        })
        .build();
    // The freeze never ends (its agent hangs); the thaw does.
    let hung = mock!(aws_sdk_ssm::Client::list_command_invocations)
        .match_requests(|r| r.command_id() == Some("cmd-freeze"))
        .then_output(|| listed(CommandInvocationStatus::InProgress, -1, ""));
    let thawed = mock!(aws_sdk_ssm::Client::list_command_invocations)
        .match_requests(|r| r.command_id() == Some("cmd-thaw"))
        .then_output(|| listed(CommandInvocationStatus::Success, 0, ""));
    let agents = online(&["i-0web"]);
    let step = FREEZE.replace("timeout = 30m", "timeout = 2m");
    let r = on(
        &step,
        &[],
        &[&agents, &send, &hung, &thawed],
        &Journal::memory(),
    );
    assert_eq!(r.outcome, Some(Outcome::Failed));
    assert!(
        r.error.clone().unwrap_or_default().contains("timed out"),
        "{:?}",
        r.error
    );
    let scripts = scripts.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(scripts.len(), 2, "{scripts:?}");
    assert!(scripts[1].contains("fsfreeze -u '/data'"), "{}", scripts[1]);
    assert_eq!(thawed.num_calls(), 1);
}

#[test]
fn a_resume_runs_again_a_command_that_failed_and_only_that() {
    let journal = Journal::memory();
    for entry in [
        Entry::Intent {
            step: "run".into(),
            op: Op::SendCommand,
            token: token(),
            at: 1.0,
        },
        Entry::Answer {
            step: "run".into(),
            op: Op::SendCommand,
            token: token(),
            answer: serde_json::json!("cmd-old"),
            error: None,
            created: Vec::new(),
            at: 1.0,
        },
    ] {
        journal.note(&entry);
    }
    let results = |id: &'static str, code: i32| {
        let status = if code == 0 {
            CommandInvocationStatus::Success
        } else {
            CommandInvocationStatus::Failed
        };
        mock!(aws_sdk_ssm::Client::list_command_invocations)
            .match_requests(move |r| r.command_id() == Some(id))
            .then_output(move || {
                ListCommandInvocationsOutput::builder()
                    .command_invocations(invocation("i-0web", status.clone(), code, ""))
                    .build()
            })
    };
    // The command before the interruption failed (the responder has fixed the cause since).
    let (old, new) = (results("cmd-old", 1), results("cmd-new", 0));
    let next = crate::exec::ctx::token("mock-run", "run", "ssm/run/0/1");
    let send = mock!(aws_sdk_ssm::Client::send_command)
        .match_requests(move |r| r.comment() == Some(next.as_str()))
        .then_output(|| {
            SendCommandOutput::builder()
                .command(Command::builder().command_id("cmd-new").build())
                .build()
        });
    let agents = online(&["i-0web"]);
    let r = on(RUN, &[], &[&agents, &send, &old, &new], &journal);
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{:?}", r.error);
    assert_eq!(
        send.num_calls(),
        1,
        "sent again, under the next generation's token"
    );
    assert_eq!((old.num_calls(), new.num_calls()), (1, 1));
}
