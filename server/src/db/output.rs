//! How a task's output is kept at rest: chunks of whole lines, zstd-compressed.
use sea_orm::DbErr;

/// zstd's level: its fastest, which still shrinks typical command output several times.
const LEVEL: i32 = 1;

/// The stored form of `text`.
pub fn compress(text: &str) -> Vec<u8> {
    zstd::bulk::compress(text.as_bytes(), LEVEL).expect("compressing into memory cannot fail")
}

/// The text of a stored chunk.
pub fn decompress(data: &[u8]) -> Result<String, DbErr> {
    let bytes =
        zstd::stream::decode_all(data).map_err(|e| DbErr::Custom(format!("a stored output chunk is corrupt: {e}")))?;
    String::from_utf8(bytes).map_err(|e| DbErr::Custom(format!("a stored output chunk is not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_comes_back_as_it_went_in_and_smaller() {
        let text: String = (1..=10_000).map(|i| format!("{i}\n")).collect();
        let data = compress(&text);
        assert!(data.len() * 2 < text.len(), "{} of {} bytes", data.len(), text.len());
        assert_eq!(decompress(&data).unwrap(), text);
        let corrupt = decompress(b"not zstd");
        assert!(corrupt.is_err(), "{corrupt:?}");
    }
}
