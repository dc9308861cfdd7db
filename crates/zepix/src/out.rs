//! Command output on stdout. `println!` panics when the reader has gone (`zepix status | head`);
//! these end the program quietly instead, as a Unix tool does.

use std::io::Write;

/// Writes `args` (and a newline when `newline`) to stdout. A reader that closed the pipe ends
/// the program with status 0; any other write error (a full disk) ends it with status 1.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| if newline { out.write_all(b"\n") } else { out.flush() });
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write the output: {e}");
            std::process::exit(1);
        }
    }
}

/// `println!` that ends the program quietly when stdout's reader is gone.
#[macro_export]
macro_rules! say {
    () => { $crate::out::write(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::out::write(format_args!($($arg)*), true) };
}

/// `print!` that ends the program quietly when stdout's reader is gone (and flushes, so a
/// prompt shows before the program waits for an answer).
#[macro_export]
macro_rules! say_part {
    ($($arg:tt)*) => { $crate::out::write(format_args!($($arg)*), false) };
}
