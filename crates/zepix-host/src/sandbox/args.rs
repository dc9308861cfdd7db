//! The launcher's command line: a [`Policy`] as arguments and back.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;

use super::Policy;

/// How the launcher is invoked (printed with `--help` and after a bad argument).
pub const USAGE: &str = "usage: zepix-sandbox --plugin-dir DIR --data-dir DIR [--ro PATH]... [--exec FILE]... \
[--memory-mb N] [--cpu-s N] [--nofile N] [--require-full] -- PROGRAM [ARG]...";

/// What the launcher was asked to run, and under which policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The sandbox.
    pub policy: Policy,
    /// The program to exec inside it.
    pub program: PathBuf,
    /// Its arguments (without the program itself).
    pub args: Vec<OsString>,
}

/// A launcher argument that is missing, unknown or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgsError(String);

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgsError {}

fn bad(message: impl Into<String>) -> ArgsError {
    ArgsError(message.into())
}

impl Policy {
    /// The policy as launcher arguments, to be followed by `--`, the program and its arguments.
    #[must_use]
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::with_capacity(12 + 2 * (self.read_only.len() + self.executables.len()));
        args.push("--plugin-dir".into());
        args.push(self.plugin_dir.clone().into());
        args.push("--data-dir".into());
        args.push(self.data_dir.clone().into());
        for path in &self.read_only {
            args.push("--ro".into());
            args.push(path.clone().into());
        }
        for path in &self.executables {
            args.push("--exec".into());
            args.push(path.clone().into());
        }
        args.push("--memory-mb".into());
        args.push(self.memory_mb.to_string().into());
        args.push("--cpu-s".into());
        args.push(self.cpu_seconds.to_string().into());
        args.push("--nofile".into());
        args.push(self.open_files.to_string().into());
        if self.require_full {
            args.push("--require-full".into());
        }
        args
    }

    /// Parses launcher arguments (see [`USAGE`]): the options, `--`, then the program and its
    /// arguments. `--plugin-dir` and `--data-dir` are required; the limits default as in
    /// [`Policy::new`].
    ///
    /// # Errors
    /// An unknown option, an option without its value or given twice, a limit that is not a
    /// positive number, a missing directory, or no program after `--`.
    pub fn from_args<I: IntoIterator<Item = OsString>>(args: I) -> Result<Invocation, ArgsError> {
        let mut args = args.into_iter();
        let mut plugin_dir = None;
        let mut data_dir = None;
        let mut read_only = Vec::new();
        let mut executables = Vec::new();
        let mut memory_mb = None;
        let mut cpu_seconds = None;
        let mut open_files = None;
        let mut require_full = false;
        loop {
            let Some(arg) = args.next() else {
                return Err(bad("no program to run: end the options with `--`, then the program and its arguments"));
            };
            let name = arg.to_str().ok_or_else(|| bad(format!("unknown argument {arg:?}")))?;
            match name {
                "--" => break,
                "--require-full" => require_full = true,
                "--plugin-dir" => once(&mut plugin_dir, name, PathBuf::from(value(&mut args, name)?))?,
                "--data-dir" => once(&mut data_dir, name, PathBuf::from(value(&mut args, name)?))?,
                "--ro" => read_only.push(PathBuf::from(value(&mut args, name)?)),
                "--exec" => executables.push(PathBuf::from(value(&mut args, name)?)),
                "--memory-mb" => once(&mut memory_mb, name, number(&value(&mut args, name)?, name)?)?,
                "--cpu-s" => once(&mut cpu_seconds, name, number(&value(&mut args, name)?, name)?)?,
                "--nofile" => once(&mut open_files, name, number(&value(&mut args, name)?, name)?)?,
                _ => return Err(bad(format!("unknown option `{name}`"))),
            }
        }
        let program = PathBuf::from(args.next().ok_or_else(|| bad("no program after `--`"))?);
        let plugin_dir = plugin_dir.ok_or_else(|| bad("--plugin-dir is required"))?;
        let data_dir = data_dir.ok_or_else(|| bad("--data-dir is required"))?;
        let mut policy = Policy::new(plugin_dir, data_dir);
        policy.read_only = read_only;
        policy.executables = executables;
        if let Some(n) = memory_mb {
            policy.memory_mb = n;
        }
        if let Some(n) = cpu_seconds {
            policy.cpu_seconds = n;
        }
        if let Some(n) = open_files {
            policy.open_files = n;
        }
        policy.require_full = require_full;
        Ok(Invocation { policy, program, args: args.collect() })
    }
}

fn value(args: &mut impl Iterator<Item = OsString>, name: &str) -> Result<OsString, ArgsError> {
    match args.next() {
        Some(v) if v != "--" => Ok(v),
        _ => Err(bad(format!("{name} needs a value"))),
    }
}

fn once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), ArgsError> {
    if slot.replace(value).is_some() {
        return Err(bad(format!("{name} is given twice")));
    }
    Ok(())
}

fn number<T: std::str::FromStr + PartialEq + Default>(value: &OsStr, name: &str) -> Result<T, ArgsError> {
    match value.to_str().and_then(|v| v.parse::<T>().ok()) {
        Some(n) if n != T::default() => Ok(n),
        _ => Err(bad(format!("{name}: `{}` is not a positive whole number", value.to_string_lossy()))),
    }
}
