//! Run a test inside its own network namespace with only loopback up.
//!
//! For tests whose SIP messages name other hosts (`example.com`, Via and
//! Contact at 192.0.2.x, SDP `c=` at 192.168.x): the daemon started from
//! such a test sends its responses, RTP and BYEs there. In a namespace with
//! nothing but `lo`, those packets cannot leave the machine (sends fail at
//! once with ENETUNREACH) and a name lookup fails at once instead of
//! waiting on a resolver.
//!
//! Namespaces are per thread on Linux: [`enter_loopback_netns`] moves the
//! calling thread only, and what it starts later (the daemon process, the
//! tokio current-thread runtime of `#[tokio::test]`, threads it spawns)
//! stays inside. Each test runs on its own thread, so each gets its own
//! namespace. The test cluster is reached by a unix socket, which a network
//! namespace does not affect. Needs CAP_SYS_ADMIN (tests run as root here).

/// Unshare the network namespace of this thread and bring `lo` up.
/// Panics with the reason if the kernel refuses (no privilege).
pub fn enter_loopback_netns() {
    // SAFETY: plain syscalls on this thread; `ifreq` is zeroed and only
    // its name and flags are written, as SIOC[GS]IFFLAGS expect.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            panic!(
                "cannot create a network namespace ({}): these tests need root \
                 (CAP_SYS_ADMIN) so that messages naming other hosts stay on loopback",
                std::io::Error::last_os_error()
            );
        }
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut ifr) != 0 {
            panic!("SIOCGIFFLAGS lo: {}", std::io::Error::last_os_error());
        }
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &ifr) != 0 {
            panic!("SIOCSIFFLAGS lo up: {}", std::io::Error::last_os_error());
        }
        libc::close(fd);
    }
    // Only loopback: a documentation address is unreachable, not routed.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("loopback is up");
    assert!(
        probe.send_to(b"x", "192.0.2.1:9").is_err(),
        "the namespace must have no route off the machine"
    );
}
