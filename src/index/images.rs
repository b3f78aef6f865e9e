//! Image references, normalized the way containerd records them in `node.status.images`.

/// The canonical reference containerd records in `node.status.images`:
/// `busybox:1.32` → `docker.io/library/busybox:1.32`, no tag → `:latest`.
pub fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    let first = repo.split('/').next().unwrap_or_default();
    let has_domain =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_domain {
        // Docker Hub's other spellings, and its implicit `library/` for official images.
        let rest = repo.split_once('/').map_or("", |(_, r)| r);
        match first {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" if !rest.contains('/') => {
                format!("docker.io/library/{rest}")
            }
            "index.docker.io" | "registry-1.docker.io" => format!("docker.io/{rest}"),
            _ => repo.to_string(),
        }
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    match (tag, digest) {
        (Some(t), _) => {
            full.push(':');
            full.push_str(t);
        }
        (None, None) => full.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    full
}

#[cfg(test)]
mod tests {
    use super::normalize_image;

    #[test]
    fn image_names_normalize_like_containerd() {
        assert_eq!(
            normalize_image("busybox:1.32"),
            "docker.io/library/busybox:1.32"
        );
        assert_eq!(
            normalize_image("codewisdom/ts-auth-service:1.0.0"),
            "docker.io/codewisdom/ts-auth-service:1.0.0"
        );
        assert_eq!(
            normalize_image("prom/node-exporter"),
            "docker.io/prom/node-exporter:latest"
        );
        assert_eq!(
            normalize_image("ghcr.io/open-feature/flagd:v0.6.7"),
            "ghcr.io/open-feature/flagd:v0.6.7"
        );
        assert_eq!(
            normalize_image("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(
            normalize_image("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize_image("index.docker.io/codewisdom/x:1"),
            "docker.io/codewisdom/x:1"
        );
        assert_eq!(
            normalize_image("docker.io/library/nginx@sha256:00"),
            "docker.io/library/nginx@sha256:00"
        );
    }
}
