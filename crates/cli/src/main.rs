//! berth: the command line. It takes docker's commands and flags; until the daemon exists
//! the image commands call the image library directly.

// The image commands that use it land with the image store.
#[allow(dead_code)]
mod format;

fn main() {
    eprintln!("berth: no commands yet");
    std::process::exit(1);
}
