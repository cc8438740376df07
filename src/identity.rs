//! Who and where this process runs: the user and the host, for a run's holder (the journal's
//! lock note) and a report's `ran_by`. Under systemd or in a container `$USER` is often unset:
//! the user is then the name of the process's uid, never `unknown`.

/// The user this process runs as: `$USER`, `$LOGNAME`, else the name of its uid.
pub fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(user_of_uid)
}

/// `user@host`: who, and where, for a record a person reads.
pub fn user_at_host() -> String {
    format!("{}@{}", user(), host())
}

/// The machine's name.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

#[cfg(unix)]
fn user_of_uid() -> String {
    use std::ffi::CStr;
    // SAFETY: getuid cannot fail. getpwuid_r writes the entry into `pwd` and its strings into
    // `buf`, both ours and alive for the call; `result` is null when there is no entry.
    unsafe {
        let uid = libc::getuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
            CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned()
        } else {
            format!("uid {uid}")
        }
    }
}

#[cfg(not(unix))]
fn user_of_uid() -> String {
    "unknown".to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_user_has_a_name_even_without_the_environment() {
        let name = super::user_of_uid();
        assert!(!name.is_empty() && name != "unknown", "{name}");
    }
}
