//! The words notes are written with, as people write: a few words in
//! nearly every note, most words in few (Zipf's law). The load test writes
//! and searches with it, and the read benchmarks fill databases with it, so
//! that a search matches what it would match on a real campus rather than
//! every note.

use std::collections::HashSet;

use rand::Rng;

/// The most common words, in order of frequency.
const COMMON: [&str; 48] = [
    "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "with", "was", "on",
    "be", "by", "this", "are", "from", "or", "an", "at", "which", "not", "we", "can", "have",
    "has", "its", "but", "all", "their", "one", "more", "when", "there", "also", "than", "into",
    "two", "other", "so", "these", "used", "first", "each", "between", "where",
];

/// Words of the courses, next in frequency.
const COURSES: [&str; 32] = [
    "function",
    "energy",
    "cell",
    "theory",
    "equation",
    "market",
    "derivative",
    "integral",
    "photosynthesis",
    "mitochondria",
    "revolution",
    "sonnet",
    "entropy",
    "algorithm",
    "equilibrium",
    "metaphor",
    "vector",
    "enzyme",
    "protein",
    "matrix",
    "empire",
    "poem",
    "velocity",
    "molecule",
    "treaty",
    "proof",
    "genome",
    "contract",
    "inflation",
    "reaction",
    "orbit",
    "syntax",
];

/// Syllables the rest of the words are made of, so that rare words are
/// distinct and many.
const SYLLABLES: [&str; 40] = [
    "ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu", "na", "pe", "ri", "so", "tu", "va",
    "we", "xi", "yo", "zu", "bra", "cle", "dri", "flo", "gru", "pla", "ste", "tri", "qua", "sho",
    "an", "el", "in", "or", "um", "ex", "al", "is", "on", "ur",
];

/// A vocabulary of `size` words ranked by frequency, and a draw by Zipf's
/// law (the word of rank r drawn in proportion to 1/r).
#[derive(Clone, Debug)]
pub struct Vocabulary {
    words: Vec<String>,
    /// The running sums of 1/r, for drawing by binary search.
    cumulative: Vec<f64>,
}

impl Vocabulary {
    /// The 20,000-word vocabulary the load test and the benchmarks use.
    pub fn campus() -> Self {
        Self::new(20_000)
    }

    /// A vocabulary of `size` words (at least the common and course words).
    pub fn new(size: usize) -> Self {
        let mut words: Vec<String> = COMMON
            .iter()
            .chain(&COURSES)
            .map(|w| w.to_string())
            .collect();
        let mut taken: HashSet<String> = words.iter().cloned().collect();
        let mut n = 0usize;
        while words.len() < size {
            // A made-up word may spell a real one ("al" + "so").
            let word = made_up_word(n);
            if taken.insert(word.clone()) {
                words.push(word);
            }
            n += 1;
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Self { words, cumulative }
    }

    /// One word, drawn by its frequency.
    pub fn word(&self, rng: &mut impl Rng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let pick = rng.gen_range(0.0..total);
        let rank = self.cumulative.partition_point(|&c| c <= pick);
        &self.words[rank.min(self.words.len() - 1)]
    }

    /// `count` words drawn by frequency, separated by spaces.
    pub fn text(&self, rng: &mut impl Rng, count: usize) -> String {
        let mut text = String::with_capacity(count * 8);
        for i in 0..count {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(self.word(rng));
        }
        text
    }

    /// A word a student searches for: drawn by frequency among the words
    /// that mean something (the course words and rarer), never "the".
    pub fn search_term(&self, rng: &mut impl Rng) -> &str {
        loop {
            let word = self.word(rng);
            if !COMMON.contains(&word) {
                return word;
            }
        }
    }
}

/// The `n`th made-up word: two or three syllables.
fn made_up_word(n: usize) -> String {
    let s = SYLLABLES.len();
    let (first, second, third) = (n % s, (n / s) % s, n / (s * s));
    let mut word = format!("{}{}", SYLLABLES[first], SYLLABLES[second]);
    if third > 0 {
        word.push_str(SYLLABLES[(third - 1) % s]);
        if third > s {
            word.push_str(&(third / s).to_string());
        }
    }
    word
}

#[cfg(test)]
mod tests {
    use super::Vocabulary;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn words_are_distinct_and_as_many_as_asked() {
        let vocabulary = Vocabulary::new(20_000);
        let distinct: HashSet<&String> = vocabulary.words.iter().collect();
        assert_eq!(distinct.len(), 20_000);
        assert!(vocabulary
            .words
            .iter()
            .all(|w| w.chars().all(|c| c.is_alphanumeric())));
    }

    #[test]
    fn frequency_falls_with_rank() {
        let vocabulary = Vocabulary::campus();
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen: HashMap<String, u32> = HashMap::new();
        for _ in 0..200_000 {
            *seen
                .entry(vocabulary.word(&mut rng).to_string())
                .or_default() += 1;
        }
        let the = seen["the"];
        let of = seen["of"];
        // Rank 1 about twice rank 2, and far more than a course word.
        assert!(the > of * 3 / 2 && the < of * 5 / 2, "the {the}, of {of}");
        assert!(the > 20 * seen.get("syntax").copied().unwrap_or(0));
        // Most of the vocabulary is rare: many words were drawn once or never.
        assert!(seen.len() > 10_000, "{} distinct words", seen.len());
    }

    #[test]
    fn searches_are_for_words_that_mean_something() {
        let vocabulary = Vocabulary::campus();
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..1_000 {
            let term = vocabulary.search_term(&mut rng);
            assert!(!super::COMMON.contains(&term));
        }
    }
}
