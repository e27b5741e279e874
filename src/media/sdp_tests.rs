//! Offer/answer tests with offers shaped like real phones'. The fixtures in
//! `tests/fixtures/sdp/` are one offer per phone family, written from what
//! those phones send (vendor documentation, bug reports, captures).

use super::*;

const BARESIP: &str = "v=0\r\no=- 1786312471 2416524466 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 10000 RTP/AVP 9 0 8 101\r\nb=AS:64\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=label:1\r\na=ssrc:12345 cname:x@y\r\na=rtcp-rsize\r\na=ptime:20\r\n";

const LINPHONE: &str = "v=0\r\no=alice 1391 3210 IN IP4 192.0.2.10\r\ns=Talk\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\na=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\nm=audio 7078 RTP/AVP 96 97 98 8 0 18 101 99 100\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\na=rtpmap:97 speex/16000\r\na=rtpmap:98 speex/8000\r\na=rtpmap:101 telephone-event/48000\r\na=rtpmap:99 telephone-event/16000\r\na=rtpmap:100 telephone-event/8000\r\na=rtcp-fb:* trr-int 1000\r\n";

// Zoiper-like: static PT 0 and 8 without rtpmap, events on 120, no direction.
const ZOIPER: &str = "v=0\r\no=Z 0 1 IN IP4 198.51.100.7\r\ns=Z\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 8000 RTP/AVP 106 0 8 3 120\r\na=rtpmap:106 opus/48000/2\r\na=rtpmap:120 telephone-event/8000\r\na=fmtp:120 0-16\r\n";

fn local() -> LocalMedia {
    LocalMedia {
        addr: "127.0.0.1".parse().unwrap(),
        port: 20000,
        session_id: 42,
        session_version: 1,
    }
}

#[test]
fn baresip_prefers_g722_we_take_its_next_choice_pcmu() {
    let n = negotiate(BARESIP).unwrap();
    assert_eq!(
        (n.codec, n.payload_type, n.telephone_event),
        (Codec::Pcmu, 0, Some(101))
    );
    assert_eq!(n.remote, "127.0.0.1:10000".parse().unwrap());
    assert_eq!(n.remote_ptime_ms, Some(20));
    assert_eq!(n.direction, Direction::SendRecv);
}

#[test]
fn linphone_pcma_first_and_the_8000_hz_event_type() {
    let n = negotiate(LINPHONE).unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    assert_eq!(
        n.telephone_event,
        Some(100),
        "the 8 kHz one, not 101 at 48 kHz"
    );
    assert_eq!(n.remote_ptime_ms, None);
}

#[test]
fn zoiper_static_types_without_rtpmap_and_event_120() {
    let n = negotiate(ZOIPER).unwrap();
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcmu, Some(120)));
    let answer = build_answer(&n, &local());
    assert!(
        answer.contains("m=audio 20000 RTP/AVP 0 120\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("a=rtpmap:120 telephone-event/8000\r\n"),
        "{answer}"
    );
    assert!(answer.contains("a=sendrecv\r\n"), "{answer}");
    // The answer parses and, read as an offer, leads to the same choice.
    let back = negotiate(&answer).unwrap();
    assert_eq!((back.codec, back.telephone_event), (Codec::Pcmu, Some(120)));
    assert_eq!(back.remote, "127.0.0.1:20000".parse().unwrap());
}

#[test]
fn event_type_96_is_kept() {
    let offer = ZOIPER
        .replace("106 0 8 3 120", "8 96")
        .replace("rtpmap:120", "rtpmap:96");
    let n = negotiate(&offer).unwrap();
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcma, Some(96)));
}

#[test]
fn hold_directions_are_mirrored() {
    for (offered, answered) in [
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
    ] {
        let offer = BARESIP.replace("a=sendrecv", &format!("a={offered}"));
        let n = negotiate(&offer).unwrap();
        assert_eq!(n.direction, answered, "{offered}");
        assert!(build_answer(&n, &local()).contains(&format!("a={}\r\n", answered.attr())));
    }
    let old_hold = BARESIP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
    assert_eq!(negotiate(&old_hold).unwrap().direction, Direction::RecvOnly);
}

#[test]
fn no_common_codec_is_488() {
    let offer = BARESIP.replace("9 0 8 101", "9 101");
    let err = negotiate(&offer).unwrap_err();
    assert!(matches!(err, SdpError::NoCommonCodec(_)), "{err:?}");
    assert_eq!(err.sip_status(), 488);
    let video_only = BARESIP.replace("m=audio", "m=video");
    assert_eq!(negotiate(&video_only).unwrap_err().sip_status(), 488);
}

#[test]
fn garbage_and_hostnames_are_400_without_panics() {
    assert_eq!(negotiate("hello").unwrap_err().sip_status(), 400);
    assert_eq!(negotiate("").unwrap_err().sip_status(), 400);
    let host = BARESIP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example.com");
    assert_eq!(
        negotiate(&host).unwrap_err(),
        SdpError::BadAddress("pbx.example.com".into())
    );
    for cut in (0..BARESIP.len()).step_by(7) {
        let _ = negotiate(&BARESIP[..cut]);
    }
}

#[test]
fn extra_m_lines_are_rejected_with_port_zero() {
    let offer = format!("{BARESIP}m=video 10002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n");
    let n = negotiate(&offer).unwrap();
    let answer = build_answer(&n, &local());
    assert!(answer.contains("m=video 0 RTP/AVP 97\r\n"), "{answer}");
}

#[test]
fn late_offer_round_trip() {
    let offer = build_offer(&local());
    let n = negotiate(&offer).unwrap();
    assert_eq!(
        (n.codec, n.telephone_event),
        (Codec::Pcmu, Some(OUR_EVENT_PT))
    );
    assert_eq!(n.remote_ptime_ms, Some(20));
}

/// A fixture offer with CRLF line ends, as on the wire.
pub(crate) fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/sdp/{name}.sdp",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
}

/// The answer's m-lines, in order.
fn mlines(answer: &str) -> Vec<&str> {
    answer
        .split("\r\n")
        .filter(|l| l.starts_with("m="))
        .collect()
}

/// Negotiate `name`, build the answer, check the answer mirrors every
/// m-line and reads back as the same choice; returns both.
fn offer_answer(name: &str) -> (Negotiated, String) {
    let offer = fixture(name);
    let n = negotiate(&offer).unwrap_or_else(|e| panic!("{name}: {e}"));
    let answer = build_answer(&n, &local());
    let offered: Vec<&str> = offer
        .split("\r\n")
        .filter(|l| l.starts_with("m="))
        .collect();
    let answered = mlines(&answer);
    assert_eq!(
        answered.len(),
        offered.len(),
        "{name}: one answer line per offer line\n{answer}"
    );
    for (i, (o, a)) in offered.iter().zip(&answered).enumerate() {
        let of: Vec<&str> = o.split(' ').collect();
        let af: Vec<&str> = a.split(' ').collect();
        assert_eq!(of[0], af[0], "{name}: media kind of line {i}");
        assert_eq!(of[2], af[2], "{name}: transport of line {i}");
        let port_zero = af[1] == "0";
        assert_eq!(port_zero, i != n.accepted_mline(), "{name}: line {i}: {a}");
    }
    assert_eq!(n.mline_count(), offered.len());
    let back =
        negotiate(&answer).unwrap_or_else(|e| panic!("{name}: answer unreadable: {e}\n{answer}"));
    assert_eq!(
        (back.codec, back.telephone_event),
        (n.codec, n.telephone_event),
        "{name}"
    );
    (n, answer)
}

#[test]
fn linphone_audio_video_ice_48k_events() {
    let (n, answer) = offer_answer("linphone-video");
    assert_eq!(
        (n.codec, n.payload_type, n.telephone_event),
        (Codec::Pcmu, 0, Some(100))
    );
    assert_eq!(n.remote, "192.168.1.20:7078".parse().unwrap());
    assert_eq!(
        mlines(&answer),
        ["m=audio 20000 RTP/AVP 0 100", "m=video 0 RTP/AVP 96"]
    );
    assert!(!answer.contains("candidate"), "we do not do ICE: {answer}");
}

#[test]
fn zoiper_opus_first_rtcp_mux_and_two_event_rates() {
    let (n, answer) = offer_answer("zoiper5");
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcmu, Some(101)));
    assert!(
        answer.contains("a=rtpmap:101 telephone-event/8000\r\n"),
        "{answer}"
    );
    assert!(
        !answer.contains("rtcp-mux"),
        "we do not multiplex RTCP: {answer}"
    );
}

#[test]
fn microsip_best_effort_srtp_on_rtp_avp_is_plain_rtp() {
    let (n, answer) = offer_answer("microsip-srtp-optional");
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    assert!(!answer.contains("crypto"), "{answer}");
    assert_eq!(mlines(&answer), ["m=audio 20000 RTP/AVP 8 101"]);
}

#[test]
fn pjsua_srtp_duplicated_offer_takes_the_rtp_line() {
    let (n, answer) = offer_answer("pjsua-srtp-dup-offer");
    assert_eq!(n.accepted_mline(), 1);
    assert_eq!(
        mlines(&answer),
        ["m=audio 0 RTP/SAVP 0", "m=audio 20000 RTP/AVP 0 101"]
    );
}

#[test]
fn pjsua_with_video_and_bandwidth_lines() {
    let (n, answer) = offer_answer("pjsua-video");
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcmu, Some(96)));
    assert_eq!(n.remote, "192.0.2.77:4000".parse().unwrap());
    assert_eq!(mlines(&answer)[1], "m=video 0 RTP/AVP 97");
}

#[test]
fn baresip_with_video() {
    let (n, answer) = offer_answer("baresip-video");
    assert_eq!(
        (n.codec, n.telephone_event, n.remote_ptime_ms),
        (Codec::Pcmu, Some(101), Some(20))
    );
    assert_eq!(mlines(&answer)[1], "m=video 0 RTP/AVP 100");
}

#[test]
fn yealink_ptime_30_grandstream_ptime_40_carrier_ptime_10() {
    for (name, ptime, codec) in [
        ("yealink-t46", 30, Codec::Pcmu),
        ("grandstream-gxp", 40, Codec::Pcmu),
        ("ims-carrier-trunk", 10, Codec::Pcma),
    ] {
        let (n, answer) = offer_answer(name);
        assert_eq!((n.remote_ptime_ms, n.codec), (Some(ptime), codec), "{name}");
        // We send 20 ms packets whatever was asked, and say so.
        assert!(answer.contains("a=ptime:20\r\n"), "{name}: {answer}");
    }
}

#[test]
fn polycom_audio_video_and_real_time_text() {
    let (n, answer) = offer_answer("polycom-vvx-video");
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcmu, Some(127)));
    assert_eq!(n.direction, Direction::SendRecv, "session-level a=sendrecv");
    assert_eq!(
        mlines(&answer),
        [
            "m=audio 20000 RTP/AVP 0 127",
            "m=video 0 RTP/AVP 109",
            "m=text 0 RTP/AVP 98"
        ]
    );
}

#[test]
fn trunks_freeswitch_asterisk_cisco() {
    for (name, codec, remote) in [
        ("freeswitch-trunk", Codec::Pcma, "203.0.113.10:24602"),
        ("asterisk-trunk", Codec::Pcmu, "198.51.100.5:12466"),
        ("cisco-cube-trunk", Codec::Pcmu, "10.10.10.1:16618"),
    ] {
        let (n, _) = offer_answer(name);
        assert_eq!(
            (n.codec, n.remote),
            (codec, remote.parse().unwrap()),
            "{name}"
        );
        assert_eq!(n.telephone_event, Some(101), "{name}");
    }
}

#[test]
fn unknown_kinds_second_audio_and_port_zero_lines_are_rejected() {
    // MSRP, an audio stream with only G.729, T.38 at port 0, then a
    // usable audio stream: the last one is taken, all four are answered.
    let (n, answer) = offer_answer("audio-and-msrp");
    assert_eq!(n.accepted_mline(), 3);
    assert_eq!(
        mlines(&answer),
        [
            "m=message 0 TCP/MSRP *",
            "m=audio 0 RTP/AVP 18",
            "m=image 0 udptl t38",
            "m=audio 20000 RTP/AVP 8"
        ]
    );
    // A second usable audio stream is rejected too.
    let two = format!("{BARESIP}m=audio 10002 RTP/AVP 8\r\n");
    let n = negotiate(&two).unwrap();
    assert_eq!(
        mlines(&build_answer(&n, &local()))[1],
        "m=audio 0 RTP/AVP 8"
    );
}

#[test]
fn webrtc_only_transport_is_488_with_warning_302() {
    let err = negotiate(&fixture("webrtc-gateway")).unwrap_err();
    assert_eq!(
        err,
        SdpError::UnsupportedTransport(vec!["UDP/TLS/RTP/SAVPF".into()])
    );
    assert_eq!(err.sip_status(), 488);
    assert!(
        err.warning().starts_with("302 hotline \""),
        "{}",
        err.warning()
    );
    let savp = BARESIP.replace("RTP/AVP", "RTP/SAVP");
    let err = negotiate(&savp).unwrap_err();
    assert_eq!((err.sip_status(), err.warn_code()), (488, 302));
}

#[test]
fn every_error_has_a_warning_that_is_a_quoted_string() {
    let errors = [
        negotiate("hello").unwrap_err(),
        negotiate(&BARESIP.replace("m=audio", "m=video")).unwrap_err(),
        negotiate(&BARESIP.replace("9 0 8 101", "9 101")).unwrap_err(),
        negotiate(&BARESIP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example.com")).unwrap_err(),
        negotiate(&fixture("webrtc-gateway")).unwrap_err(),
        SdpError::Parse("a \"quoted\" \\ thing\u{7f}\r\n".into()),
    ];
    let codes: Vec<u16> = errors.iter().map(SdpError::warn_code).collect();
    assert_eq!(codes, [399, 304, 305, 301, 302, 399]);
    for e in &errors {
        let w = e.warning();
        let text = w.split_once(" hotline ").expect("code agent text").1;
        assert!(text.starts_with('"') && text.ends_with('"'), "{w}");
        let inner = &text[1..text.len() - 1];
        assert!(
            inner.chars().all(|c| c.is_ascii_graphic() || c == ' ') && !inner.contains(['"', '\\']),
            "{w}"
        );
    }
}

#[test]
fn lf_only_line_ends_and_no_session_connection() {
    let offer = fixture("linphone-video").replace("\r\n", "\n");
    assert_eq!(negotiate(&offer).unwrap().codec, Codec::Pcmu);
    // c= only at media level (WebRTC gateways do this).
    let offer = BARESIP
        .replace("c=IN IP4 127.0.0.1\r\n", "")
        .replace("b=AS:64\r\n", "c=IN IP4 192.0.2.5\r\nb=AS:64\r\n");
    assert_eq!(
        negotiate(&offer).unwrap().remote,
        "192.0.2.5:10000".parse().unwrap()
    );
}

#[test]
fn avpf_is_answered_in_kind_and_an_unusable_first_stream_is_skipped() {
    let avpf = BARESIP.replace("RTP/AVP", "RTP/AVPF");
    let n = negotiate(&avpf).unwrap();
    assert_eq!(
        mlines(&build_answer(&n, &local())),
        ["m=audio 20000 RTP/AVPF 0 101"]
    );
    // First audio stream names a host, the second an IP: the second it is.
    let offer = format!(
        "{}m=audio 10002 RTP/AVP 8\r\nc=IN IP4 192.0.2.8\r\n",
        BARESIP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example.com")
    );
    let n = negotiate(&offer).unwrap();
    assert_eq!(
        (n.accepted_mline(), n.remote),
        (1, "192.0.2.8:10002".parse().unwrap())
    );
}

fn with_c(addr: &str) -> String {
    BARESIP.replace("c=IN IP4 127.0.0.1", &format!("c=IN IP4 {addr}"))
}

#[test]
fn multicast_and_broadcast_addresses_are_488_with_their_warning() {
    for (addr, code) in [
        ("224.0.0.1", 330),
        ("239.255.255.250", 330),
        ("255.255.255.255", 399),
        ("0.1.2.3", 399),
    ] {
        let err = negotiate(&with_c(addr)).unwrap_err();
        assert_eq!((err.sip_status(), err.warn_code()), (488, code), "{addr}");
        assert!(err.warning().contains(addr), "{}", err.warning());
    }
    let v6 = BARESIP.replace("c=IN IP4 127.0.0.1", "c=IN IP6 ff0e::1");
    assert!(matches!(negotiate(&v6), Err(SdpError::Multicast(_))));
    let mapped = BARESIP.replace("c=IN IP4 127.0.0.1", "c=IN IP6 ::ffff:224.1.1.1");
    assert!(matches!(negotiate(&mapped), Err(SdpError::Multicast(_))));
}

#[test]
fn zero_address_is_hold_only() {
    let sig = Some("127.0.0.1".parse().unwrap());
    // A first offer expecting our audio, with nowhere to send it.
    for dir in ["sendrecv", "recvonly"] {
        let n = negotiate(&with_c("0.0.0.0").replace("a=sendrecv", &format!("a={dir}"))).unwrap();
        let err = check_address(&n, true, sig).unwrap_err();
        assert_eq!((err.sip_status(), err.warn_code()), (488, 399), "{dir}");
    }
    // RFC 3264 §8.4: fine in a re-offer, or marked sendonly/inactive.
    let n = negotiate(&with_c("0.0.0.0")).unwrap();
    assert!(check_address(&n, false, sig).is_ok());
    for dir in ["sendonly", "inactive"] {
        let n = negotiate(&with_c("0.0.0.0").replace("a=sendrecv", &format!("a={dir}"))).unwrap();
        assert!(check_address(&n, true, sig).is_ok(), "{dir}");
    }
    let n = negotiate(BARESIP).unwrap();
    assert!(check_address(&n, true, sig).is_ok());
}

#[test]
fn loopback_media_only_for_a_peer_on_loopback() {
    let n = negotiate(BARESIP).unwrap(); // c=127.0.0.1
    assert!(check_address(&n, true, Some("127.0.0.1".parse().unwrap())).is_ok());
    assert!(check_address(&n, true, Some("127.0.0.2".parse().unwrap())).is_ok());
    let err = check_address(&n, true, Some("203.0.113.7".parse().unwrap())).unwrap_err();
    assert!(matches!(err, SdpError::Loopback(..)), "{err:?}");
    assert_eq!(err.sip_status(), 488);
}
