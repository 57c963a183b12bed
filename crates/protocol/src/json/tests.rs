//! The codec against `serde_json`: the same documents accepted and refused, and every
//! protocol type read and written with the same meaning as its derive.

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;
use crate::{
    ArchiveRequest, CloseResponse, ConversionOptions, ConvertRequest, ConvertResponse,
    CsrfTokenResponse, DownloadTokenRequest, DownloadTokenResponse, ErrorType, Format, FormatGroup,
    HealthReport, JobListResponse, JobStatus, JobStatusResponse, ServiceHealth, SessionInfo,
    UploadResponse,
};

/// Our tree as `serde_json`'s, numbers read by `serde_json` from our text.
fn as_serde(value: &Json) -> serde_json::Value {
    match value {
        Json::Null => serde_json::Value::Null,
        Json::Bool(flag) => serde_json::Value::Bool(*flag),
        Json::Number(text) => serde_json::from_str(text).unwrap(),
        Json::String(text) => serde_json::Value::String(text.clone()),
        Json::Array(items) => serde_json::Value::Array(items.iter().map(as_serde).collect()),
        Json::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|(name, value)| (name.to_owned(), as_serde(value)))
                .collect(),
        ),
    }
}

#[test]
fn valid_documents_parse_to_what_serde_json_reads() {
    let documents = [
        "null",
        " true ",
        "false",
        "0",
        "-0",
        "12345678901234567890",
        "-9223372036854775808",
        "1.5e-3",
        "2E+10",
        "0.25",
        r#""""#,
        r#""plain""#,
        r#""quote \" backslash \\ slash \/ controls \b\f\n\r\t""#,
        r#""\u00e9\u4e2d\ud83d\ude00 é 中 😀""#,
        "[]",
        "[1, [2, [3]], {}]",
        "{}",
        r#"{"a": 1, "b": [true, false, null], "c": {"d": "e"}}"#,
        "\t\n\r {\"spaced\" :\n 1 }\n",
    ];
    for document in documents {
        let ours =
            Json::parse(document.as_bytes()).unwrap_or_else(|error| panic!("{document}: {error}"));
        let theirs: serde_json::Value = serde_json::from_str(document).unwrap();
        assert_eq!(as_serde(&ours), theirs, "{document}");
    }
}

#[test]
fn invalid_documents_are_refused_as_serde_json_refuses_them() {
    let documents: [&[u8]; 27] = [
        b"",
        b"   ",
        b"nul",
        b"True",
        b"01",
        b"-",
        b"1.",
        b".5",
        b"1e",
        b"+1",
        b"0x10",
        b"[1,]",
        b"[1 2]",
        b"{\"a\":1,}",
        b"{\"a\" 1}",
        b"{a:1}",
        b"{\"a\":1}}",
        b"\"unterminated",
        b"\"tab\tinside\"",
        b"\"bad escape \\x\"",
        b"\"short \\u12\"",
        b"\"lone \\ud800\"",
        b"\"lone low \\udc00\"",
        b"\"high then not low \\ud800\\u0041\"",
        b"\"\xff\"",
        b"[] []",
        b"NaN",
    ];
    for document in documents {
        assert!(
            Json::parse(document).is_err(),
            "accepted {:?}",
            String::from_utf8_lossy(document)
        );
        assert!(serde_json::from_slice::<serde_json::Value>(document).is_err());
    }
}

#[test]
fn a_member_named_twice_is_refused() {
    let error = Json::parse(br#"{"job_id":"a","job_id":"b"}"#).unwrap_err();
    assert!(matches!(
        error,
        JsonError::Syntax {
            reason: "duplicate member name",
            ..
        }
    ));
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_without_exhausting_the_stack() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(Json::parse(nested(MAX_DEPTH).as_bytes()).is_ok());
    assert!(Json::parse(nested(MAX_DEPTH + 1).as_bytes()).is_err());
    // Far deeper than any stack would take, refused at the limit.
    assert!(Json::parse("[".repeat(1_000_000).as_bytes()).is_err());
}

#[test]
fn written_strings_read_back_unchanged() {
    let mut texts: Vec<String> = (0u8..0x80)
        .map(|byte| char::from(byte).to_string())
        .collect();
    texts.extend(
        [
            "",
            "é中😀",
            "a\"b\\c\u{7f}\u{2028}",
            "line\nbreak\ttab\u{0}nul",
        ]
        .map(String::from),
    );
    for text in texts {
        let mut out = String::new();
        write_string(&mut out, &text);
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text, "{out}");
        assert_eq!(from_slice::<String>(out.as_bytes()).unwrap(), text);
    }
}

/// `value` written by `serde_json` reads back equal through [`FromJson`].
fn reads_as_serde_wrote<T: Serialize + FromJson + PartialEq + Debug>(value: &T) {
    let json = serde_json::to_vec(value).unwrap();
    let read: T = from_slice(&json)
        .unwrap_or_else(|error| panic!("{}: {error}", String::from_utf8_lossy(&json)));
    assert_eq!(&read, value);
}

/// `value` written by [`ToJson`] reads back equal through `serde_json`.
fn writes_as_serde_reads<T: ToJson + Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let json = value.to_json();
    let read: T = serde_json::from_str(&json).unwrap_or_else(|error| panic!("{json}: {error}"));
    assert_eq!(&read, value);
    let ours = Json::parse(json.as_bytes()).unwrap();
    assert_eq!(
        as_serde(&ours),
        serde_json::to_value(value).unwrap(),
        "the same members as serde_json writes"
    );
}

fn every_option() -> ConversionOptions {
    ConversionOptions {
        quality: Some(80),
        lossless: Some(false),
        max_width: Some(1920),
        max_height: Some(1080),
        pages: Some("1-3,5".into()),
        keep_metadata: Some(true),
    }
}

fn job(options: ConversionOptions, finished: bool) -> JobStatusResponse {
    JobStatusResponse {
        job_id: "8f14e45f-ceea-467a-9b53-000000000001".into(),
        status: if finished {
            JobStatus::Completed
        } else {
            JobStatus::Uploaded
        },
        created_at: "2026-12-05T10:00:00Z".into(),
        updated_at: "2026-12-05T10:00:01Z".into(),
        original_filename: "résumé \"final\".docx".into(),
        source_format: Format::Docx,
        target_format: finished.then_some(Format::Pdf),
        options,
        file_size: 123_456,
        output_size: finished.then_some(u64::MAX),
        output_format: finished.then_some(Format::Pdf),
        progress: if finished { 100 } else { 0 },
        error: None,
        error_message: (!finished).then(|| "line\nbreak".into()),
        completed_at: finished.then(|| "2026-12-05T10:00:02Z".into()),
        conversion_time: finished.then_some(1.234_567_890_123),
    }
}

#[test]
fn every_answer_type_reads_what_its_derive_writes() {
    reads_as_serde_wrote(&SessionInfo {
        id: "s-1".into(),
        csrf_token: "t/+=".into(),
        expires_at: "2026-12-05T11:00:00Z".into(),
        expires_in: 3600,
    });
    reads_as_serde_wrote(&CsrfTokenResponse {
        csrf_token: "t2".into(),
        expires_at: "2026-12-05T11:00:00Z".into(),
        expires_in: 0,
    });
    reads_as_serde_wrote(&CloseResponse {
        message: "Session closed".into(),
    });
    reads_as_serde_wrote(&HealthReport {
        status: "ok".into(),
        version: "0.1.0".into(),
        services: BTreeMap::from([
            (
                "store".into(),
                ServiceHealth {
                    status: "ok".into(),
                    latency_ms: 0.125,
                },
            ),
            (
                "office".into(),
                ServiceHealth {
                    status: "down".into(),
                    latency_ms: 1e-7,
                },
            ),
        ]),
        timestamp: "2026-12-05T10:00:00Z".into(),
    });
    reads_as_serde_wrote(&vec![FormatGroup {
        id: "images".into(),
        name: "Images".into(),
        description: "Pictures".into(),
        input_formats: vec!["png".into(), "heic".into()],
        output_formats: vec!["webp".into()],
        max_size: 104_857_600,
        features: vec![],
    }]);
    reads_as_serde_wrote(&UploadResponse {
        job_id: "j".into(),
        status: JobStatus::Uploaded,
    });
    reads_as_serde_wrote(&ConvertResponse {
        job_id: "j".into(),
        task_id: "t".into(),
        status: JobStatus::Queued,
    });
    reads_as_serde_wrote(&job(ConversionOptions::default(), false));
    reads_as_serde_wrote(&job(every_option(), true));
    reads_as_serde_wrote(&JobListResponse {
        jobs: vec![
            job(every_option(), true),
            job(ConversionOptions::default(), false),
        ],
    });
    reads_as_serde_wrote(&JobListResponse { jobs: vec![] });
    reads_as_serde_wrote(&DownloadTokenResponse {
        download_token: "d".into(),
        expires_at: "2026-12-05T10:05:00Z".into(),
    });
    for kind in ErrorType::ALL {
        reads_as_serde_wrote(&kind);
    }
    for status in JobStatus::ALL {
        reads_as_serde_wrote(&status);
    }
    for format in Format::ALL {
        reads_as_serde_wrote(&format);
        writes_as_serde_reads(&format);
    }
}

#[test]
fn every_request_type_writes_what_its_derive_reads() {
    writes_as_serde_reads(&ConvertRequest {
        job_id: "j".into(),
        target_format: "webp".into(),
        source_format: None,
        options: ConversionOptions::default(),
    });
    writes_as_serde_reads(&ConvertRequest {
        job_id: "j".into(),
        target_format: "pdf".into(),
        source_format: Some("docx".into()),
        options: every_option(),
    });
    writes_as_serde_reads(&DownloadTokenRequest { job_id: "j".into() });
    writes_as_serde_reads(&ArchiveRequest {
        job_ids: vec!["a".into(), "b\"c".into()],
    });
    writes_as_serde_reads(&ArchiveRequest { job_ids: vec![] });
    writes_as_serde_reads(&every_option());
    writes_as_serde_reads(&ConversionOptions::default());
}

#[test]
fn format_names_and_aliases_read_exactly_as_the_derive_reads_them() {
    for format in Format::ALL {
        for name in std::iter::once(format.name()).chain(format.aliases().iter().copied()) {
            let json = format!("\"{name}\"");
            let derived = serde_json::from_str::<Format>(&json).ok();
            assert_eq!(
                from_slice::<Format>(json.as_bytes()).ok(),
                derived,
                "{name}"
            );
            let upper = format!("\"{}\"", name.to_ascii_uppercase());
            assert_eq!(
                from_slice::<Format>(upper.as_bytes()).ok(),
                serde_json::from_str::<Format>(&upper).ok(),
                "{upper}"
            );
        }
    }
}

#[test]
fn a_missing_or_mistyped_member_names_the_member() {
    let missing = from_slice::<SessionInfo>(br#"{"id":"s","csrf_token":"t","expires_at":"x"}"#);
    assert_eq!(
        missing.unwrap_err(),
        JsonError::Expected {
            field: Some("expires_in"),
            expected: "an integer (u64)"
        }
    );
    let negative = from_slice::<JobStatusResponse>(&{
        let mut value = serde_json::to_value(job(every_option(), true)).unwrap();
        value["progress"] = serde_json::json!(-1);
        serde_json::to_vec(&value).unwrap()
    });
    assert_eq!(
        negative.unwrap_err().to_string(),
        "`progress`: expected an integer (u8)"
    );
    let nested = from_slice::<JobStatusResponse>(&{
        let mut value = serde_json::to_value(job(every_option(), true)).unwrap();
        value["options"]["quality"] = serde_json::json!("high");
        serde_json::to_vec(&value).unwrap()
    });
    assert_eq!(
        nested.unwrap_err().to_string(),
        "`quality`: expected an integer (u32)",
        "the innermost member is named"
    );
    assert!(from_slice::<UploadResponse>(br#"{"job_id":"j","status":"done"}"#).is_err());
    assert!(from_slice::<UploadResponse>(br#"["j","uploaded"]"#).is_err());
}

#[test]
fn unknown_members_are_ignored_except_where_the_type_refuses_them() {
    let extra = br#"{"job_id":"j","status":"uploaded","added_later":{"x":[1]}}"#;
    assert_eq!(
        from_slice::<UploadResponse>(extra).unwrap(),
        serde_json::from_slice::<UploadResponse>(extra).unwrap()
    );
    let unknown_option = br#"{"quality":80,"qualty":80}"#;
    assert!(serde_json::from_slice::<ConversionOptions>(unknown_option).is_err());
    assert_eq!(
        from_slice::<ConversionOptions>(unknown_option).unwrap_err(),
        JsonError::UnknownField("qualty".into())
    );
}

#[test]
fn integers_out_of_range_are_refused() {
    for (document, fits) in [
        ("255", true),
        ("256", false),
        ("1.0", false),
        ("-0", false),
        ("-1", false),
    ] {
        assert_eq!(
            from_slice::<u8>(document.as_bytes()).is_ok(),
            fits,
            "{document}"
        );
        assert_eq!(
            serde_json::from_str::<u8>(document).is_ok(),
            fits,
            "{document}"
        );
    }
    assert_eq!(
        from_slice::<u64>(b"18446744073709551615").unwrap(),
        u64::MAX
    );
    assert_eq!(
        from_slice::<i64>(b"-9223372036854775808").unwrap(),
        i64::MIN
    );
    assert!(from_slice::<u64>(b"18446744073709551616").is_err());
    for document in ["-0", "1e2", "9223372036854775808"] {
        assert!(
            from_slice::<i64>(document.as_bytes()).is_err(),
            "{document}"
        );
        assert!(serde_json::from_str::<i64>(document).is_err(), "{document}");
    }
}
