//! Sentence vectors from token vectors: the mean over real tokens, then unit length, exactly as
//! sentence-transformers' `Pooling(mean)` and `Normalize` modules do for this model.
use candle_core::{DType, Tensor, D};

/// The mean of `hidden` (batch × tokens × hidden) over the tokens whose `mask` (batch × tokens)
/// is 1, so padding does not dilute short texts.
pub(crate) fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    // sentence-transformers clamps the count at 1e-9; only an all-padding row (impossible with
    // [CLS] and [SEP] always present) would reach it.
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    summed.broadcast_div(&counts)
}

/// Each row of `vectors` (batch × hidden) scaled to unit length (rows of zeros stay zero).
pub(crate) fn l2_normalise(vectors: &Tensor) -> candle_core::Result<Tensor> {
    let norms = vectors.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    vectors.broadcast_div(&norms)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn padding_is_left_out_of_the_mean_and_rows_get_unit_length() {
        let device = Device::Cpu;
        // One text of two real tokens and one padding token, hidden size 2.
        let hidden = Tensor::new(&[[[1.0f32, 3.0], [3.0, 5.0], [100.0, 100.0]]], &device).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0]], &device).unwrap();

        let pooled = mean_pool(&hidden, &mask).unwrap();
        assert_eq!(pooled.to_vec2::<f32>().unwrap(), vec![vec![2.0, 4.0]]);

        let unit = l2_normalise(&pooled).unwrap().to_vec2::<f32>().unwrap();
        let norm = (unit[0][0] * unit[0][0] + unit[0][1] * unit[0][1]).sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "{norm}");
        assert!((unit[0][1] / unit[0][0] - 2.0).abs() < 1e-6);
    }
}
