//! Valid PNGs of 20–60 KiB: random noise barely compresses, so a square of side `s`
//! takes about `3·s²` bytes. A 100 KiB session quota then holds one or two of them,
//! and uploads of one session contend for it.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// One image to upload.
#[derive(Debug, Clone)]
pub struct Png {
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
}

/// Sides giving about 20, 30, 40, 49 and 58 KiB.
const SIDES: [u32; 5] = [84, 100, 116, 128, 140];

/// The images, smallest first, drawn from `seed`.
pub fn pngs(seed: u64) -> Vec<Png> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    SIDES
        .iter()
        .map(|&side| {
            let pixels = image::RgbImage::from_fn(side, side, |_, _| {
                image::Rgb([rng.random(), rng.random(), rng.random()])
            });
            let mut bytes = Vec::new();
            image::DynamicImage::ImageRgb8(pixels)
                .write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )
                .unwrap();
            assert!(
                (20 * 1024..=60 * 1024).contains(&bytes.len()),
                "{side}px: {} bytes",
                bytes.len()
            );
            Png {
                name: format!("noise-{side}.png"),
                bytes: Arc::new(bytes),
            }
        })
        .collect()
}
