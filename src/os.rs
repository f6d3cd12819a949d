//! The few POSIX calls kibble makes (groups, umask, file owners, the user's name), behind safe
//! functions. The only `unsafe` outside `ml/kernels` and the fused ops.

use std::ffi::{CStr, CString};
use std::path::Path;

/// The id of the group named `name`, if this machine has one.
pub fn group_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: getgrnam takes a valid C string and returns a pointer to static storage or null;
    // the id is read at once, before any other call could overwrite that storage.
    unsafe {
        let g = libc::getgrnam(name.as_ptr());
        (!g.is_null()).then(|| (*g).gr_gid)
    }
}

/// Sets this process's file-creation mask (e.g. 0o007: nothing for other users).
pub fn set_umask(mask: u32) {
    // SAFETY: umask only changes this process's file-creation mask; it cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// Gives `path` to group `gid`, keeping its owner.
pub fn chown_group(path: &Path, gid: u32) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: chown with a valid C path; uid -1 (u32::MAX) keeps the owner.
    if unsafe { libc::chown(c.as_ptr(), u32::MAX, gid) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The name of the user this process runs as, from the password database.
pub fn user_name() -> Option<String> {
    // SAFETY: getpwuid returns a pointer to static storage or null; the name is copied out at
    // once, before any other call could overwrite it.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        CStr::from_ptr((*pw).pw_name)
            .to_str()
            .ok()
            .map(str::to_string)
    }
}
