//! Reference normalisation and validation, case by case against docker's behaviour.

use berth_image::reference::Reference;

const D: &str = "sha256:0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b";

#[test]
fn normalisation_table() {
    // input, full form, familiar form, domain, path
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        (
            "busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
            "docker.io",
            "library/busybox",
        ),
        (
            "busybox:1.35",
            "docker.io/library/busybox:1.35",
            "busybox:1.35",
            "docker.io",
            "library/busybox",
        ),
        (
            "library/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
            "docker.io",
            "library/busybox",
        ),
        (
            "docker.io/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
            "docker.io",
            "library/busybox",
        ),
        (
            "index.docker.io/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
            "docker.io",
            "library/busybox",
        ),
        (
            "user/app",
            "docker.io/user/app:latest",
            "user/app:latest",
            "docker.io",
            "user/app",
        ),
        (
            "user/app:1",
            "docker.io/user/app:1",
            "user/app:1",
            "docker.io",
            "user/app",
        ),
        (
            "docker.io/library/a/b",
            "docker.io/library/a/b:latest",
            "library/a/b:latest",
            "docker.io",
            "library/a/b",
        ),
        (
            "localhost/x",
            "localhost/x:latest",
            "localhost/x:latest",
            "localhost",
            "x",
        ),
        (
            "localhost:5000/x:1",
            "localhost:5000/x:1",
            "localhost:5000/x:1",
            "localhost:5000",
            "x",
        ),
        (
            "registry.example.com/a/b:v1.2-rc_3",
            "registry.example.com/a/b:v1.2-rc_3",
            "registry.example.com/a/b:v1.2-rc_3",
            "registry.example.com",
            "a/b",
        ),
        (
            "[::1]:5000/img",
            "[::1]:5000/img:latest",
            "[::1]:5000/img:latest",
            "[::1]:5000",
            "img",
        ),
        (
            "a__b/c-d.e_f---g",
            "docker.io/a__b/c-d.e_f---g:latest",
            "a__b/c-d.e_f---g:latest",
            "docker.io",
            "a__b/c-d.e_f---g",
        ),
        (
            "Registry.Example.com/a",
            "Registry.Example.com/a:latest",
            "Registry.Example.com/a:latest",
            "Registry.Example.com",
            "a",
        ),
    ];
    for (input, full, familiar, domain, path) in cases {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.to_string(), *full, "{input}");
        assert_eq!(r.familiar(), *familiar, "{input}");
        assert_eq!(
            (r.domain.as_str(), r.path.as_str()),
            (*domain, *path),
            "{input}"
        );
        assert_eq!(
            Reference::parse(full).unwrap(),
            r,
            "{full} re-parses to the same"
        );
    }
}

#[test]
fn digests() {
    let r = Reference::parse(&format!("registry.example.com/a/b@{D}")).unwrap();
    assert_eq!(r.tag, None);
    assert_eq!(r.digest.as_ref().unwrap().to_string(), D);
    assert_eq!(r.to_string(), format!("registry.example.com/a/b@{D}"));

    let r = Reference::parse(&format!("busybox:1.35@{D}")).unwrap();
    assert_eq!(r.tag.as_deref(), Some("1.35"));
    assert_eq!(r.to_string(), format!("docker.io/library/busybox:1.35@{D}"));
    assert_eq!(r.familiar(), format!("busybox:1.35@{D}"));

    let r = Reference::parse(&format!("busybox@{D}")).unwrap();
    assert_eq!(r.familiar(), format!("busybox@{D}"));
    assert_eq!(r.with_tag("x").to_string(), "docker.io/library/busybox:x");
    assert_eq!(Reference::parse_named("busybox").unwrap().tag, None);
}

#[test]
fn errors_as_docker_words_them() {
    let cases: &[(&str, &str)] = &[
        ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
        ("user/App:1", "invalid reference format: repository name (user/App) must be lowercase"),
        ("localhost/Foo", "invalid reference format: repository name (Foo) must be lowercase"),
        ("a::b", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        ("-busybox", "invalid reference format"),
        ("busybox:-tag", "invalid reference format"),
        ("a/b//c", "invalid reference format"),
        ("a b", "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        ("busybox@sha512:0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b", "unsupported digest algorithm"),
        ("busybox@sha256:0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b00", "invalid checksum digest length"),
        ("0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b", "invalid repository name (0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b), cannot specify 64-byte hexadecimal strings"),
        ("", "invalid reference format"),
    ];
    for (input, want) in cases {
        let err = Reference::parse(input).expect_err(input);
        assert_eq!(err.to_string(), *want, "{input:?}");
    }
    let long = format!("a/{}", "b".repeat(260));
    assert_eq!(
        Reference::parse(&long).unwrap_err().to_string(),
        "repository name must not be more than 255 characters"
    );
    let tag = format!("a:{}", "t".repeat(129));
    assert_eq!(
        Reference::parse(&tag).unwrap_err().to_string(),
        "invalid reference format"
    );
}
