//! berth-probe: run inside a test container, it reports what the container sees as JSON.
fn main() {
    println!("{{}}");
}
