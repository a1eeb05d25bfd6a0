//! Progressive refinement: the running average of frames whose rays start at shifted jitter
//! offsets ([`crate::render::params::jitter_offset`]). With jitter on, each frame samples every
//! ray at other points of its sample interval, so the average converges to the ray integral a
//! much finer sample distance would give: wood grain and jitter noise fade as frames add up.
//!
//! The raymarcher writes linear colours, so frames are averaged as they are. Transparent images
//! (straight alpha) are averaged premultiplied and divided back, so a pixel half covered in
//! half of the frames gets the covered colour at a quarter alpha, not a darkened one.

/// The sum of the frames drawn so far, per pixel and channel.
#[derive(Debug, Clone)]
pub struct Accumulator {
    width: u32,
    height: u32,
    transparent: bool,
    sums: Vec<f32>,
    frames: u32,
}

impl Accumulator {
    pub fn new(width: u32, height: u32, transparent: bool) -> Accumulator {
        Accumulator {
            width,
            height,
            transparent,
            sums: vec![0.0; 4 * width as usize * height as usize],
            frames: 0,
        }
    }

    pub fn size(&self) -> [u32; 2] {
        [self.width, self.height]
    }

    /// Frames added so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Adds one frame of RGBA8 pixels of this size.
    pub fn add(&mut self, rgba: &[u8]) {
        assert_eq!(rgba.len(), self.sums.len(), "a frame of another size");
        for (sum, p) in self.sums.chunks_exact_mut(4).zip(rgba.chunks_exact(4)) {
            let weight = if self.transparent {
                p[3] as f32 / 255.0
            } else {
                1.0
            };
            for k in 0..3 {
                sum[k] += p[k] as f32 * weight;
            }
            sum[3] += p[3] as f32;
        }
        self.frames += 1;
    }

    /// The average so far as RGBA8, into `out` (of this size).
    pub fn average_into(&self, out: &mut [u8]) {
        assert_eq!(out.len(), self.sums.len(), "an image of another size");
        let n = self.frames.max(1) as f32;
        let byte = |x: f32| x.round().clamp(0.0, 255.0) as u8;
        for (p, sum) in out.chunks_exact_mut(4).zip(self.sums.chunks_exact(4)) {
            let alpha = sum[3] / n;
            let scale = if !self.transparent {
                1.0 / n
            } else if alpha > 0.0 {
                255.0 / (alpha * n)
            } else {
                0.0
            };
            for k in 0..3 {
                p[k] = byte(sum[k] * scale);
            }
            p[3] = byte(alpha);
        }
    }

    /// The average so far as RGBA8.
    pub fn average(&self) -> Vec<u8> {
        let mut out = vec![0; self.sums.len()];
        self.average_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_is_itself_and_opaque_frames_average_per_channel() {
        let a = [10u8, 200, 33, 255, 0, 0, 0, 255];
        let b = [20u8, 100, 34, 255, 255, 255, 255, 255];
        let mut acc = Accumulator::new(2, 1, false);
        acc.add(&a);
        assert_eq!(acc.average(), a);
        acc.add(&b);
        assert_eq!(acc.frames(), 2);
        // 33.5 rounds to 34; 127.5 to 128.
        assert_eq!(acc.average(), [15, 150, 34, 255, 128, 128, 128, 255]);
    }

    #[test]
    fn transparent_frames_average_premultiplied() {
        // Covered red at full alpha once, uncovered (alpha 0, colour undefined) once: red at
        // half alpha, not a darkened red.
        let mut acc = Accumulator::new(1, 1, true);
        acc.add(&[255, 0, 0, 255]);
        acc.add(&[9, 9, 9, 0]);
        assert_eq!(acc.average(), [255, 0, 0, 128]);
        let mut empty = Accumulator::new(1, 1, true);
        empty.add(&[40, 50, 60, 0]);
        assert_eq!(empty.average(), [0, 0, 0, 0]);
        let mut once = Accumulator::new(1, 1, true);
        once.add(&[40, 50, 60, 7]);
        assert_eq!(once.average(), [40, 50, 60, 7]);
    }
}
