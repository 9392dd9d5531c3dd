//! The crawler of seeds 000/004, on local files: `apply_async` fetches
//! each page in a worker, and its `callback` parses the result in the
//! parent, as it arrives.
//!
//! ```python
//! from multiprocessing import Pool
//! import os
//!
//! def get_page(path):                  # the seed fetches a URL
//!     print("<%d> get %s" % (os.getpid(), path))
//!     with open(path) as f:
//!         text = f.read()
//!     return "%s|%d|%s" % (path, len(text.split()), text.split("\n")[0])
//!
//! def parse_page(res):                 # runs in the parent
//!     path, words, first = res.split("|", 2)
//!     print("<%d> parse %s: %s words, starts %r" % (os.getpid(), path, words, first))
//!     db.append(res)
//!
//! if __name__ == "__main__":
//!     db = []
//!     paths = [...]                   # files written beforehand
//!     p = Pool(3)
//!     for path in paths:
//!         p.apply_async(get_page, args=(path,), callback=parse_page)
//!     p.close()
//!     p.join()
//!     print(len(db), "pages")
//! ```
//!
//! The same shape, with the crate's `serde` feature (`cargo run --features
//! serde --example pool_crawler`). The paths and the results are plain
//! `String`s, moved through the task slots encoded with postcard
//! (`apply_async_value_callback`). The callback runs in the parent while
//! it is inside a pool call (here `join`), as Python's runs on its result
//! thread; it captures one `Rc`, the "database".

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use mproc::pool::Pool;
use mproc::process;

/// The pages: written to a directory of their own first.
const PAGES: [(&str, &str); 5] = [
    (
        "index.txt",
        "Welcome to the site\nSee the news and the docs.\n",
    ),
    (
        "news.txt",
        "News of the day\nThe pool maps paths to strings.\n",
    ),
    (
        "docs.txt",
        "Docs\nEvery task is a plain fn; its data travels.\n",
    ),
    ("about.txt", "About us\nWe write daemons in Rust.\n"),
    ("empty.txt", ""),
];

/// The task: reads a page and sums it up as `path|words|first line`.
fn get_page(path: String) -> String {
    println!("<{}> get {path}", process::getpid());
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let first = text.lines().next().unwrap_or("");
    format!("{path}|{}|{first}", text.split_whitespace().count())
}

/// The callback, in the parent: parses the summary into the database.
fn parse_page(db: &RefCell<Vec<String>>, res: &str) {
    let mut fields = res.splitn(3, '|');
    let (path, words, first) = (fields.next(), fields.next(), fields.next());
    let name = path.and_then(|p| p.rsplit('/').next()).unwrap_or("?");
    println!(
        "<{}> parse {name}: {} words, starts {:?}",
        process::getpid(),
        words.unwrap_or("?"),
        first.unwrap_or("")
    );
    db.borrow_mut().push(res.to_string());
}

/// Writes the pages, crawls them with `Pool(3)`, removes them.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("mproc-crawler-{}", process::getpid()));
    std::fs::create_dir_all(&dir)?;
    let result = crawl(&dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn crawl(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for (name, text) in PAGES {
        std::fs::write(dir.join(name), text)?;
        paths.push(dir.join(name));
    }
    let db = Rc::new(RefCell::new(Vec::new()));
    let p = Pool::new(3)?;
    for path in &paths {
        let db = Rc::clone(&db);
        let path = path.to_string_lossy().into_owned();
        // Python drops the AsyncResult too: the callback gets the result.
        p.apply_async_value_callback(get_page, path, move |res: &String| parse_page(&db, res))?;
    }
    p.close();
    p.join()?;
    println!("{} pages", db.borrow().len());
    let mut words: Vec<u32> = db
        .borrow()
        .iter()
        .filter_map(|r| r.split('|').nth(1)?.parse().ok())
        .collect();
    words.sort_unstable();
    if words != [0, 7, 10, 10, 10] {
        return Err(format!("unexpected word counts {words:?} in {:?}", db.borrow()).into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
