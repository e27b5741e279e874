//! Offer/answer tests with offers shaped like real phones'.

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
