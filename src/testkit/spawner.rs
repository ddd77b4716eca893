//! One long-lived thread that spawns every etcd process, so none outlives the test process.
//!
//! Each child asks the kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`). Linux
//! delivers that signal when the *thread* that forked the child exits, not the process; so
//! children are forked from this thread, which lives until the process ends. Then even a
//! process that exits without running destructors (a `static`, `abort`, `exit`) takes its
//! etcd servers with it.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

use super::error::TestkitError;

type Request = (Command, Sender<io::Result<Child>>);

static SPAWNER: OnceLock<Result<Mutex<Sender<Request>>, String>> = OnceLock::new();

/// Spawns `cmd` from the spawner thread, with parent-death SIGKILL set in the child.
pub(crate) fn spawn(mut cmd: Command) -> Result<Child, TestkitError> {
    set_parent_death_signal(&mut cmd);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let spawner = SPAWNER.get_or_init(start_thread).as_ref().map_err(|e| {
        TestkitError::state(format!("testkit: cannot start the spawner thread: {e}; check thread limits"))
    })?;
    let (reply_tx, reply_rx) = channel();
    let gone = || TestkitError::state("testkit: the spawner thread is gone; a previous spawn crashed it");
    {
        let sender = spawner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        sender.send((cmd, reply_tx)).map_err(|_| gone())?;
    }
    reply_rx
        .recv()
        .map_err(|_| gone())?
        .map_err(|e| TestkitError::io(format!("spawn {program} (is it an executable file?)"), e))
}

fn start_thread() -> Result<Mutex<Sender<Request>>, String> {
    let (tx, rx) = channel::<Request>();
    std::thread::Builder::new()
        .name("etcd-raw-testkit-spawner".into())
        .spawn(move || {
            // The sender lives in a static, so this loop runs until the process exits.
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(Mutex::new(tx))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_parent_death_signal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = libc::pid_t::try_from(std::process::id()).ok();
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect; then nobody would kill us.
            if parent.is_some_and(|p| libc::getppid() != p) {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_parent_death_signal(_cmd: &mut Command) {
    // No parent-death signal here: processes are still killed by `Drop`, but not on abort.
}
