//! The forwarder under load and abuse: 200 concurrent connections all answered, and clients
//! that hang or send garbage do not wedge it for everyone else.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::kiln::Kiln;
use crate::support::serve::{flask_app, get, have_venv, start};

#[test]
fn two_hundred_concurrent_connections_are_all_answered() {
    let Some(venv) = have_venv("serve: 200 connections") else {
        return;
    };
    let app = flask_app("");
    let k = Kiln::new();
    // Flask's dev server runs a thread per connection; threads count against pids.
    let s = start(&k, &venv, app.path(), &["--pids", "512", "--cpu", "10m"]);
    let started = Instant::now();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(200));
    let port = s.port;
    let clients: Vec<_> = (0..200)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                get(port, "/")
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let ok = results
        .iter()
        .filter(|r| matches!(r, Ok((200, body)) if body == "hello from the sandbox\n"))
        .count();
    let failures: Vec<_> = results
        .iter()
        .filter(|r| !matches!(r, Ok((200, _))))
        .take(3)
        .collect();
    assert_eq!(ok, 200, "only {ok}/200 answered; e.g. {failures:?}");
    eprintln!(
        "200 concurrent GETs through the forwarder in {:?}",
        started.elapsed()
    );
}

#[test]
fn hanging_and_garbage_clients_do_not_wedge_it() {
    let Some(venv) = have_venv("serve: bad clients") else {
        return;
    };
    let app = flask_app("");
    let k = Kiln::new();
    let s = start(&k, &venv, app.path(), &["--pids", "128"]);
    // Clients that connect and never send a byte, and ones that send binary garbage.
    let hangers: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    for i in 0..10u8 {
        let mut g = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        let junk: Vec<u8> = (0..4096u32)
            .map(|n| (n as u8).wrapping_mul(31).wrapping_add(i))
            .collect();
        let _ = g.write_all(&junk);
        let _ = g.write_all(b"\r\n\r\n");
    }
    let half_open = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    half_open.shutdown(std::net::Shutdown::Write).unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        let (status, _) = get(s.port, "/").unwrap();
        assert_eq!(status, 200);
    }
    let took = started.elapsed();
    eprintln!("5 GETs beside 20 hanging and 10 garbage clients took {took:?}");
    assert!(
        took < Duration::from_secs(60),
        "the forwarder was wedged for {took:?}"
    );
    drop(hangers);
}
