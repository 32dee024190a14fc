use super::*;
use crate::ClockConfig;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "dantesync-state-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn learned(ppm: f64) -> LearnedState {
    LearnedState::new(
        ppm,
        0.02,
        Some("00:1d:c1:0e:31:7a".into()),
        at(1_785_427_891),
    )
}

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

#[test]
fn save_then_load_round_trips_and_leaves_no_temporary_file() {
    let dir = TempDir::new("roundtrip");
    let path = dir.0.join("sub/state.json");
    save(&path, &learned(-12.345)).unwrap();
    let back = load(&path).unwrap().unwrap();
    assert_eq!(back, learned(-12.345));
    assert_eq!(back.saved_at, 1_785_427_891);
    let names: Vec<_> = fs::read_dir(dir.0.join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["state.json".to_string()]);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"frequency_ppm\": -12.345"), "{text}");
    assert!(text.contains("\"version\": 1"), "{text}");
    // A second save replaces the first.
    save(&path, &learned(3.5)).unwrap();
    assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, 3.5);
}

#[test]
fn a_missing_file_is_a_first_start_not_an_error() {
    let dir = TempDir::new("missing");
    assert_eq!(load(&dir.0.join("state.json")).unwrap(), None);
}

#[test]
fn broken_files_are_refused_with_the_path_and_the_reason() {
    let dir = TempDir::new("broken");
    let path = dir.0.join("state.json");
    fs::write(&path, "{\"frequency_ppm\": 3.0,\n \"sigma_ppm\": }").unwrap();
    let e = load(&path).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("line 2 column"), "{e}");
    assert!(e.contains("delete it to start from scratch"), "{e}");

    fs::write(
        &path,
        r#"{"frequency_ppm": 900.0, "sigma_ppm": 0.1, "saved_at": 1}"#,
    )
    .unwrap();
    let e = load(&path).unwrap_err().to_string();
    assert!(e.contains("frequency_ppm 900 is outside ±500 ppm"), "{e}");

    fs::write(
        &path,
        r#"{"frequency_ppm": 1.0, "sigma_ppm": -1, "saved_at": 1}"#,
    )
    .unwrap();
    assert!(load(&path)
        .unwrap_err()
        .to_string()
        .contains("sigma_ppm -1"));

    fs::write(
        &path,
        r#"{"version": 2, "frequency_ppm": 1.0, "sigma_ppm": 0.1, "saved_at": 1}"#,
    )
    .unwrap();
    assert!(load(&path).unwrap_err().to_string().contains("version 2"));
}

#[test]
fn a_minimal_file_without_optional_fields_loads() {
    let dir = TempDir::new("minimal");
    let path = dir.0.join("state.json");
    fs::write(
        &path,
        r#"{"frequency_ppm": -4.25, "sigma_ppm": 0.5, "saved_at": 100}"#,
    )
    .unwrap();
    let s = load(&path).unwrap().unwrap();
    assert_eq!(s.frequency_ppm, -4.25);
    assert_eq!(s.leader, None);
    assert_eq!(s.version, 1);
    assert_eq!(s.age(at(160)), Duration::from_secs(60));
    assert_eq!(s.age(at(50)), Duration::ZERO);
}

#[test]
fn a_failed_write_keeps_the_old_file_and_cleans_up() {
    let dir = TempDir::new("failed");
    let path = dir.0.join("state.json");
    save(&path, &learned(1.0)).unwrap();
    // Renaming a file over a non-empty directory fails: the old content must survive.
    let blocked = dir.0.join("blocked");
    fs::create_dir_all(blocked.join("inner")).unwrap();
    let e = save(&blocked, &learned(2.0)).unwrap_err();
    assert!(matches!(e, StateError::Io { .. }), "{e}");
    assert!(
        e.to_string().starts_with(&blocked.display().to_string()),
        "{e}"
    );
    assert!(blocked.join("inner").is_dir());
    assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, 1.0);
    let leftovers: Vec<_> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_persister_writes_rarely_unless_the_frequency_moves() {
    let dir = TempDir::new("persister");
    let path = dir.0.join("state.json");
    let mut p = Persister::new(path.clone(), PersistPolicy::default(), None);
    // Nothing on disk: the first offer is written at once.
    assert!(p.offer(mins(0), learned(10.0)).unwrap());
    // Small moves wait for the 15 minute interval.
    assert!(!p.offer(mins(1), learned(10.3)).unwrap());
    assert!(!p.offer(mins(14), learned(10.4)).unwrap());
    assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, 10.0);
    assert!(p.offer(mins(15), learned(10.4)).unwrap());
    assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, 10.4);
    // A move of more than 1 ppm is written after the 60 s gap, not before.
    assert!(!p
        .offer(mins(15) + Duration::from_secs(30), learned(12.0))
        .unwrap());
    assert!(p.offer(mins(16), learned(12.0)).unwrap());
    // An unchanged frequency is never rewritten, however long it has been.
    assert!(!p.offer(mins(600), learned(12.005)).unwrap());
}

#[test]
fn the_persister_flushes_the_last_offer_on_exit() {
    let dir = TempDir::new("flush");
    let path = dir.0.join("state.json");
    let mut p = Persister::new(path.clone(), PersistPolicy::default(), None);
    assert!(
        !p.flush(mins(0)).unwrap(),
        "nothing offered, nothing written"
    );
    p.offer(mins(0), learned(-7.0)).unwrap();
    p.offer(mins(3), learned(-7.4)).unwrap();
    assert!(p.flush(mins(4)).unwrap());
    assert_eq!(load(&path).unwrap().unwrap().frequency_ppm, -7.4);
    assert!(!p.flush(mins(5)).unwrap(), "already written");
}

#[test]
fn the_file_found_at_start_counts_as_written() {
    let dir = TempDir::new("resume");
    let path = dir.0.join("state.json");
    save(&path, &learned(5.0)).unwrap();
    let on_disk = load(&path).unwrap();
    let mut p = Persister::new(path.clone(), PersistPolicy::default(), on_disk.as_ref());
    // The servo starts from 5.0 and confirms it: no write.
    assert!(!p.offer(mins(1), learned(5.001)).unwrap());
    assert!(!p.flush(mins(2)).unwrap());
    // A different leader with a 3 ppm different rate: written after the gap.
    assert!(p.offer(mins(2), learned(8.0)).unwrap());
}

#[test]
fn a_state_learned_on_another_clock_does_not_apply() {
    let dir = TempDir::new("identity");
    let id = dir.0.join("machine-id");
    let cs = dir.0.join("clocksource");
    fs::write(&id, "4c4c4544004a\n").unwrap();
    fs::write(&cs, "tsc\n").unwrap();
    let here = LearnedOn::system_from(&id, &cs);
    assert_eq!(
        here,
        LearnedOn::System {
            machine_id: Some("4c4c4544004a".into()),
            clocksource: Some("tsc".into())
        }
    );
    // The persister stamps what it writes; the same clock reads it back as its own.
    let path = dir.0.join("state.json");
    let mut p =
        Persister::new(path.clone(), PersistPolicy::default(), None).learned_on(here.clone());
    p.offer(mins(0), learned(-12.0)).unwrap();
    let back = load(&path).unwrap().unwrap();
    assert_eq!(back.learned_on, Some(here.clone()));
    assert_eq!(back.not_for(&here), None);
    // A cloned disk image on another machine, another clocksource, a simulated clock.
    fs::write(&id, "9f0e11aa\n").unwrap();
    let why = back.not_for(&LearnedOn::system_from(&id, &cs)).unwrap();
    assert!(
        why.contains("another machine") && why.contains("9f0e11aa"),
        "{why}"
    );
    fs::write(&id, "4c4c4544004a\n").unwrap();
    fs::write(&cs, "hpet\n").unwrap();
    let why = back.not_for(&LearnedOn::system_from(&id, &cs)).unwrap();
    assert!(
        why.contains("clocksource tsc") && why.contains("hpet"),
        "{why}"
    );
    let sim = |drift_ppm| {
        LearnedOn::of(&ClockConfig::Simulated {
            drift_ppm,
            offset_ms: 0.0,
        })
    };
    assert!(back.not_for(&sim(50.0)).unwrap().contains("simulated"));
    // A simulated clock's frequency applies only to the same drift.
    let on_sim = LearnedState {
        learned_on: Some(sim(50.0)),
        ..learned(-50.0)
    };
    assert_eq!(on_sim.not_for(&sim(50.0)), None);
    assert!(on_sim.not_for(&sim(-20.0)).unwrap().contains("-20 ppm"));
    assert!(on_sim.not_for(&here).is_some());
    // A file that does not say where it was learned is no prior for anyone.
    assert!(learned(1.0)
        .not_for(&here)
        .unwrap()
        .contains("does not say"));
}

#[test]
fn the_default_path_is_the_documented_one() {
    let p = default_state_path();
    if cfg!(windows) {
        assert_eq!(p, PathBuf::from(r"C:\ProgramData\DanteSync\state.json"));
    } else {
        assert_eq!(p, PathBuf::from("/var/lib/dantesync/state.json"));
    }
}
