//! The spanned JSON reader: it agrees with serde_json on what is JSON, keeps the place of
//! every key and value, and explains the mistakes of hand editing.

use super::*;

fn to_serde(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(text) => serde_json::from_str(text).unwrap(),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        Value::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|m| (m.key.clone(), to_serde(&m.value)))
                .collect(),
        ),
    }
}

#[test]
fn reader_agrees_with_serde_json_on_valid_documents() {
    let docs = [
        "{}",
        "[]",
        "0",
        "-0",
        "-12.5e+3",
        "1E-2",
        "123456789012345678901234567890",
        "true",
        "null",
        r#""plain""#,
        r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83c\udfb5 end""#,
        "\"ünïcödé 日本\"",
        r#"{"a": [1, 2.5, {"b": null}], "c": {"d": [true, false, []]}, "e": ""}"#,
        " \t\r\n{ \"k\" :\n\t\"v\" } \n",
    ];
    for doc in docs {
        let ours = json::parse(doc.as_bytes()).unwrap_or_else(|e| panic!("{doc}: {e:?}"));
        let theirs: serde_json::Value = serde_json::from_str(doc).unwrap();
        assert_eq!(to_serde(&ours), theirs, "{doc}");
    }
}

#[test]
fn reader_refuses_what_serde_json_refuses() {
    let docs = [
        "",
        "   ",
        "{",
        "{\"a\" 1}",
        "{\"a\": 1,}",
        "[1, 2,]",
        "[1 2]",
        "{'a': 1}",
        "{a: 1}",
        "01",
        "1.",
        ".5",
        "1e",
        "-",
        "+1",
        "\"unterminated",
        "\"bad \\x escape\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"tab\tinside\"",
        "True",
        "nul",
        "{} {}",
        "// comment\n{}",
        "{\"a\": 1 /* c */}",
        "{\"a\" = 1}",
        "NaN",
        "[1,,2]",
        "{\"a\":}",
    ];
    for doc in docs {
        assert!(
            serde_json::from_str::<serde_json::Value>(doc).is_err(),
            "serde_json accepts {doc:?}"
        );
        assert!(json::parse(doc.as_bytes()).is_err(), "accepted {doc:?}");
    }
}

#[test]
fn reader_keeps_the_position_of_every_key_and_value() {
    let doc = "{\n  \"a\": 1,\n\t\"bé\": [true,\n    \"x\"]\n}";
    let root = json::parse(doc.as_bytes()).unwrap();
    assert_eq!(root.pos, Pos { line: 1, col: 1 });
    let Value::Object(members) = &root.value else {
        panic!()
    };
    assert_eq!(members[0].key, "a");
    assert_eq!(members[0].key_pos, Pos { line: 2, col: 3 });
    assert_eq!(members[0].value.pos, Pos { line: 2, col: 8 });
    assert_eq!(members[1].key, "bé");
    assert_eq!(members[1].key_pos, Pos { line: 3, col: 2 });
    // Columns count characters: "bé" is 4 characters with its quotes, not 5 bytes.
    assert_eq!(members[1].value.pos, Pos { line: 3, col: 8 });
    let Value::Array(items) = &members[1].value.value else {
        panic!()
    };
    assert_eq!(items[1].pos, Pos { line: 4, col: 5 });
}

#[test]
fn reader_explains_hand_editing_mistakes() {
    let err = |doc: &str| json::parse(doc.as_bytes()).unwrap_err();
    let e = err("{\n  \"a\": 1,\n  \"b\": 2,\n}");
    assert_eq!((e.pos.line, e.pos.col), (3, 9), "points at the comma");
    assert_eq!(e.message, "trailing comma before `}`");
    let e = err("[1,\n 2 , ]");
    assert_eq!((e.pos.line, e.pos.col), (2, 4));
    let e = err("{\n  // the master\n  \"a\": 1\n}");
    assert_eq!((e.pos.line, e.pos.col), (2, 3));
    assert_eq!(e.message, "comments are not allowed in JSON");
    assert!(e.hint.unwrap().contains("starting with `_`"));
    let e = err("{\n  \"a\": 1\n  \"b\": 2\n}");
    assert_eq!((e.pos.line, e.pos.col), (3, 3));
    assert_eq!(
        e.hint.as_deref(),
        Some("a comma is missing at the end of the previous line")
    );
    let e = err("{ntp_server: \"x\"}");
    assert_eq!(e.message, "key `ntp_server` is not in double quotes");
    assert_eq!(e.hint.as_deref(), Some("write \"ntp_server\""));
    let e = err("{\"a\": 'x'}");
    assert_eq!(e.message, "strings must be in double quotes");
    let e = err("{\"a\": True}");
    assert_eq!(
        (e.message.as_str(), e.hint.as_deref()),
        (
            "`True` is not a JSON value",
            Some("write true (lower case)")
        )
    );
    let e = err("{\"path\": \"C:\\ProgramData\"}");
    assert_eq!(e.message, "invalid escape `\\P` in a string");
    assert!(e.hint.unwrap().contains("\\\\"));
    let e = err("{\n  \"a\": \"open\n}");
    assert_eq!((e.pos.line, e.pos.col), (2, 8));
    assert_eq!(e.message, "this string is not closed on its line");
    let e = err("{\n  \"a\": [1, 2\n");
    assert_eq!(e.message, "the file ends inside the `[` opened at line 2");
    let e = err("{\"a\": 007}");
    assert_eq!(
        e.hint.as_deref(),
        Some("JSON numbers have no leading zeros")
    );
    let e = err(&format!("{}1{}", "[".repeat(70), "]".repeat(70)));
    assert!(e.message.contains("nested deeper"));
}

#[test]
fn syntax_errors_name_the_key_being_read() {
    let key_of = |doc: &str| json::parse(doc.as_bytes()).unwrap_err().key;
    assert_eq!(
        key_of("{\"ntp_server_mode\": {\"port\": 12a}}"),
        key("ntp_server_mode")
    );
    assert_eq!(
        key_of("{\"ntp_server_mode\": {\"port\": tru}}"),
        key("ntp_server_mode.port")
    );
    assert_eq!(
        key_of("{\"ptp\": {\"leader_allowlist\": [\"a\", \"b]}}"),
        key("ptp.leader_allowlist[1]")
    );
    assert_eq!(
        key_of("{\"ntp\": {\"slew_max_ppm\" 20}}"),
        key("ntp.slew_max_ppm")
    );
    assert_eq!(key_of("{\"a\": 1,}"), None);
    assert_eq!(key_of("{\"log\": {\"level\": \"info\",}}"), key("log"));
    let e = parse_err("{\n  \"ntp_server_mode\": {\n    \"port\": 123\n    \"stratum\": 3\n  }\n}");
    assert_eq!(
        e[0].to_string(),
        "/etc/dantesync/config.json:4:5: ntp_server_mode: expected `,` or `}` after a member\n    \
         fix: a comma is missing at the end of the previous line"
    );
}

#[test]
fn reader_handles_encodings_windows_editors_produce() {
    let with_bom = b"\xef\xbb\xbf{\"ntp_server\": \"10.77.8.2\"}";
    assert!(json::parse(with_bom).is_ok());
    let utf16 = b"\xff\xfe{\x00}\x00";
    let e = json::parse(utf16).unwrap_err();
    assert!(e.message.contains("UTF-16"), "{e:?}");
    let latin1 = b"{\n  \"interface\": \"Ethernet \xe9\"\n}";
    let e = json::parse(latin1).unwrap_err();
    assert_eq!(e.message, "invalid UTF-8 byte");
    assert_eq!((e.pos.line, e.pos.col), (2, 26));
}
