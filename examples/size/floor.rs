//! Size table: std alone, no mproc (`println!` and nothing else): the
//! floor under every other program of the table.

fn main() {
    println!("ready");
}
