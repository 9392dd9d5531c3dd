//! iceoryx2's side: nodes, services and ports of `ipc::Service`, made with a configuration of this run's own.

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections as _;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory;

use super::{CAPACITY, Msg, Result};

/// Make a service, or open the one the other side made.
#[derive(Clone, Copy)]
pub enum Make {
    Create,
    Open,
}

/// The configuration of this run: iceoryx2's files under a directory
/// and a prefix of its own, so that the bench can check and remove
/// what is left at the end (iceoryx2 keeps a persistent node counter,
/// `/dev/shm/<prefix><hash>_node.<version>.global_mgmt`, by design).
pub struct Env {
    config: Config,
    root: String,
    prefix: String,
    runs: std::cell::Cell<u32>,
}

impl Env {
    pub fn new() -> Result<Env> {
        set_log_level_from_env_or(LogLevel::Warn);
        let pid = std::process::id();
        let root = format!("/tmp/mproc-bench-iceoryx2-{pid}/");
        let prefix = format!("mproc_bench_{pid}_");
        let mut config = Config::default();
        config.global.set_root_path(&Path::new(root.as_bytes())?);
        config.global.prefix = FileName::new(prefix.as_bytes())?;
        Ok(Env {
            config,
            root,
            prefix,
            runs: std::cell::Cell::new(0),
        })
    }

    /// A service name no earlier run used: `<tag>-<run>`.
    pub fn service_name(&self, tag: &str) -> Result<ServiceName> {
        let run = self.runs.get();
        self.runs.set(run + 1);
        Ok(ServiceName::new(&format!("{tag}-{run}"))?)
    }

    /// A node of this process (call it after the fork).
    pub fn endpoint(&self) -> Result<Endpoint> {
        let node = NodeBuilder::new()
            .config(&self.config)
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<ipc::Service>()?;
        Ok(Endpoint {
            publisher: None,
            subscriber: None,
            services: Vec::new(),
            node,
        })
    }

    /// Removes what iceoryx2 left of this run (call it once every node
    /// is gone); the names of the files it found other than the
    /// expected node counter.
    pub fn remove(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut look = |dir: &str, prefix: &str| {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with(prefix) {
                    continue;
                }
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                if !(dir == "/dev/shm" && name.ends_with(".global_mgmt")) {
                    found.push(path.display().to_string());
                }
            }
        };
        look("/dev/shm", &self.prefix);
        // Under the root, iceoryx2 keeps only (empty) directories once
        // its nodes and services are gone; anything in them is news.
        let mut files = Vec::new();
        collect_files(std::path::Path::new(&self.root), &mut files);
        found.extend(files);
        let _ = std::fs::remove_dir_all(&self.root);
        found
    }
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path.display().to_string());
        }
    }
}

/// One process's node and ports (dropped ports first, the node last).
/// The bench drops its own only once the child has exited: when both
/// sides let go of a service at once, both try to remove it and the
/// loser warns that it was "already removed".
pub struct Endpoint {
    publisher: Option<Publisher<ipc::Service, Msg, ()>>,
    subscriber: Option<Subscriber<ipc::Service, Msg, ()>>,
    services: Vec<PortFactory<ipc::Service, Msg, ()>>,
    node: Node<ipc::Service>,
}

impl Endpoint {
    /// A publish-subscribe service of `Msg` with one publisher and one
    /// subscriber, no history, a subscriber buffer of `CAPACITY` and no
    /// overwriting (the publisher waits for room).
    fn service(
        &self,
        name: &ServiceName,
        make: Make,
    ) -> Result<PortFactory<ipc::Service, Msg, ()>> {
        let builder = self
            .node
            .service_builder(name)
            .publish_subscribe::<Msg>()
            .max_publishers(1)
            .max_subscribers(1)
            .history_size(0)
            .subscriber_max_buffer_size(CAPACITY)
            .enable_safe_overflow(false);
        Ok(match make {
            Make::Create => builder.create()?,
            Make::Open => builder.open()?,
        })
    }

    pub fn publish(&mut self, name: &ServiceName, make: Make) -> Result<()> {
        let service = self.service(name, make)?;
        self.publisher = Some(
            service
                .publisher_builder()
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()?,
        );
        self.services.push(service);
        Ok(())
    }

    pub fn subscribe(&mut self, name: &ServiceName, make: Make) -> Result<()> {
        let service = self.service(name, make)?;
        self.subscriber = Some(service.subscriber_builder().create()?);
        self.services.push(service);
        Ok(())
    }

    /// Connects this side's ports to the other side's now, rather than
    /// on the first send or receive. Both sides do it before the first
    /// message: a subscriber connects itself on its first `receive`,
    /// and a publisher that fills the buffer of a subscriber not
    /// connected yet gives up (to avoid a deadlock) instead of waiting.
    pub fn connect(&self) -> Result<()> {
        if let Some(publisher) = &self.publisher {
            publisher.update_connections()?;
        }
        if let Some(subscriber) = &self.subscriber {
            subscriber.update_connections()?;
        }
        Ok(())
    }

    pub fn send(&self, msg: Msg) -> Result<()> {
        let publisher = self.publisher.as_ref().ok_or("no publisher")?;
        match publisher.send_copy(msg)? {
            1 => Ok(()),
            n => Err(format!("delivered to {n} subscribers, not 1").into()),
        }
    }

    /// Polls until a sample arrives (iceoryx2's polling mode).
    pub fn receive(&self) -> Result<Msg> {
        let subscriber = self.subscriber.as_ref().ok_or("no subscriber")?;
        loop {
            if let Some(sample) = subscriber.receive()? {
                return Ok(*sample);
            }
            std::hint::spin_loop();
        }
    }
}
