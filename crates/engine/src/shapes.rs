//! Unit tests of the JSON shapes the fronts rely on: the API server serializes these types as they are, so their
//! field names must be docker's (Engine API 1.44).

use serde_json::json;

#[test]
fn image_summary_is_dockers_images_json_entry() {
    let s = crate::images::ImageSummary {
        id: "sha256:ab".into(),
        parent_id: String::new(),
        repo_tags: vec!["docker.io/library/busybox:latest".into()],
        repo_digests: vec![],
        created: 1_700_000_000,
        size: 42,
        shared_size: -1,
        labels: [("k".to_string(), "v".to_string())].into(),
        containers: -1,
        created_text: Some("2023-11-14T22:13:20Z".into()),
        platform: "linux/amd64".into(),
        manifest_digest: "sha256:cd".into(),
    };
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({"Id": "sha256:ab", "ParentId": "", "RepoTags": ["docker.io/library/busybox:latest"],
               "RepoDigests": [], "Created": 1_700_000_000, "Size": 42, "SharedSize": -1,
               "Labels": {"k": "v"}, "Containers": -1})
    );
}

#[test]
fn delete_items_and_prune_answer_are_dockers() {
    use crate::image_ops::{ImageDeleteItem, ImagesPruned};
    let items = vec![
        ImageDeleteItem::Untagged("busybox:latest".into()),
        ImageDeleteItem::Deleted("sha256:ab".into()),
    ];
    assert_eq!(
        serde_json::to_value(&items).unwrap(),
        json!([{"Untagged": "busybox:latest"}, {"Deleted": "sha256:ab"}])
    );
    let p = ImagesPruned {
        images_deleted: items[1..].to_vec(),
        space_reclaimed: 7,
    };
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"ImagesDeleted": [{"Deleted": "sha256:ab"}], "SpaceReclaimed": 7})
    );
}

#[test]
fn pull_progress_is_a_json_message_without_client_lines_flag() {
    let p = crate::pull::PullProgress {
        status: "Pull complete".into(),
        id: Some("a1b2c3d4e5f6".into()),
        client_side: false,
    };
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"status": "Pull complete", "id": "a1b2c3d4e5f6"})
    );
    assert_eq!(p.line(), "a1b2c3d4e5f6: Pull complete");
    let d = crate::pull::PullProgress {
        status: "Digest: sha256:ab".into(),
        id: None,
        client_side: false,
    };
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"status": "Digest: sha256:ab"})
    );
    assert_eq!(d.line(), "Digest: sha256:ab");
}

#[test]
fn top_and_volume_are_dockers() {
    let t = crate::stats::Top {
        header: "UID PID CMD".into(),
        lines: vec!["root 1 sleep 5".into()],
        titles: vec!["UID".into(), "PID".into(), "CMD".into()],
        processes: vec![vec!["root".into(), "1".into(), "sleep 5".into()]],
    };
    assert_eq!(
        serde_json::to_value(&t).unwrap(),
        json!({"Titles": ["UID", "PID", "CMD"], "Processes": [["root", "1", "sleep 5"]]})
    );
    let v = crate::volume_api::VolumeInfo {
        created_at: "2026-01-01T00:00:00Z".into(),
        driver: "local".into(),
        labels: Default::default(),
        mountpoint: "/var/lib/holm/volumes/v/_data".into(),
        name: "v".into(),
        options: Default::default(),
        scope: "local".into(),
    };
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        json!({"CreatedAt": "2026-01-01T00:00:00Z", "Driver": "local", "Labels": {},
               "Mountpoint": "/var/lib/holm/volumes/v/_data", "Name": "v", "Options": {}, "Scope": "local"})
    );
}

#[test]
fn ps_columns_split_keeps_the_command() {
    assert_eq!(
        crate::stats::split_columns("root   42  1 0 10:00 ?  00:00:00 sleep 100 x", 8),
        [
            "root",
            "42",
            "1",
            "0",
            "10:00",
            "?",
            "00:00:00",
            "sleep 100 x"
        ]
    );
}

#[test]
fn container_summary_is_dockers_containers_json_entry() {
    use crate::lifecycle::Status;
    let dir = tempfile::tempdir().unwrap();
    let engine = crate::Engine::open(&dir.path().join("root"), &dir.path().join("run")).unwrap();
    let mut config = crate::RunConfig {
        args: vec!["sh".into(), "-c".into(), "exit 3".into()],
        volumes: vec!["data:/data".into(), "/etc:/www:ro".into()],
        ..Default::default()
    };
    config.labels.insert("tier".into(), "web".into());
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3700);
    let rec = crate::ContainerRecord {
        id: "ab".repeat(32),
        name: "web".into(),
        image: "busybox".into(),
        image_id: "sha256:cd".into(),
        created: "2023-11-14T22:13:20Z".into(),
        config,
        state: crate::State::Exited,
        pid: 0,
        monitor_pid: 0,
        monitor_start: 0,
        exit_code: Some(3),
        error: String::new(),
        started_at: "2023-11-14T22:13:21Z".into(),
        finished_at: holm_format::time::rfc3339(an_hour_ago),
        restart_count: 0,
        no_restart: false,
        oom_killed: false,
    };
    let v = serde_json::to_value(engine.container_summary(&rec, Status::Exited, false)).unwrap();
    assert_eq!(v["Id"], json!("ab".repeat(32)));
    assert_eq!(v["Names"], json!(["/web"]));
    assert_eq!(v["Command"], "sh -c exit 3");
    assert_eq!(v["Created"], 1_700_000_000);
    assert_eq!(v["State"], "exited");
    assert_eq!(v["Status"], "Exited (3) About an hour ago");
    assert_eq!(v["Labels"], json!({"tier": "web"}));
    assert_eq!(v["Ports"], json!([]));
    assert_eq!(v["HostConfig"], json!({"NetworkMode": "bridge"}));
    assert!(v.get("SizeRw").is_none(), "sizes only when asked");
    let mounts = v["Mounts"].as_array().unwrap();
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "data");
    assert_eq!(mounts[0]["Destination"], "/data");
    assert_eq!(
        mounts[1],
        json!({"Type": "bind", "Name": "", "Source": "/etc", "Destination": "/www",
                                "Driver": "", "Mode": "ro", "RW": false, "Propagation": "rprivate"})
    );
    assert_eq!(
        crate::listing::status_text(&rec, Status::Created, 0),
        "Created"
    );
}
