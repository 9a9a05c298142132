"""Topic coherence of `neural_nmf.topics` against gensim's `CoherenceModel` (gensim is a test-only dependency,
installed by the dev extra).

Fixed corpus: the shipped 20 Newsgroups sample (200 documents). Each document becomes the token list of the words
it contains (X > 0), each word once, so that gensim's bag-of-words corpus and our document-term matrix hold the same
document frequencies. Topics: the top 10 words of every topic of a seeded two-layer hierarchical NMF (10 and 6
topics).

- UMass: gensim's 'u_mass' counts documents (boolean document co-occurrence), as we do: equal to 1e-6.
- NPMI: gensim's 'c_npmi' counts sliding windows of `window_size` tokens. A document no longer than the window is
  one window, so with `window_size` = the longest document every window is a document and the definitions
  coincide: equal to 1e-6. With gensim's default window of 10 tokens they differ (checked below).
"""
import numpy as np
import pytest
import scipy.sparse as sp
from gensim.corpora import Dictionary
from gensim.models.coherencemodel import CoherenceModel

from neural_nmf.data_loading import load_20news
from neural_nmf.topics import npmi_coherence, top_word_indices, topic_coherence, umass_coherence
from neural_nmf.train import hierarchical_nmf


@pytest.fixture(scope='module')
def setup():
    news = load_20news(drop_empty_words=True)
    X = sp.csc_matrix(news.X)
    vocab = [str(w) for w in news.vocab]
    texts = [[vocab[i] for i in X.indices[X.indptr[d]:X.indptr[d + 1]]] for d in range(X.shape[1])]
    dictionary = Dictionary(texts)
    As, _ = hierarchical_nmf(X, [10, 6], seed=0)
    layers = top_word_indices([A.numpy() for A in As], 10)
    return X, vocab, texts, dictionary, As, layers


def _gensim(coherence, topics, vocab, texts, dictionary, **kw):
    cm = CoherenceModel(topics=[[vocab[i] for i in t] for t in topics], texts=texts, dictionary=dictionary,
                        corpus=[dictionary.doc2bow(t) for t in texts], coherence=coherence, topn=len(topics[0]),
                        processes=1, **kw)
    return np.array(cm.get_coherence_per_topic())


def test_umass_equals_gensim(setup):
    X, vocab, texts, dictionary, As, layers = setup
    for topics in layers:
        ours = umass_coherence(X, list(topics))
        theirs = _gensim('u_mass', topics, vocab, texts, dictionary)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
        assert np.ptp(ours) > 0.1          # a real spread of values, not a constant


def test_npmi_equals_gensim_with_document_windows(setup):
    X, vocab, texts, dictionary, As, layers = setup
    longest = max(len(t) for t in texts)
    for topics in layers:
        ours = npmi_coherence(X, list(topics))
        theirs = _gensim('c_npmi', topics, vocab, texts, dictionary, window_size=longest)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
        assert np.ptp(ours) > 0.05


def test_npmi_differs_with_small_windows(setup):
    "With gensim's default 10-token windows co-occurrence is counted per window, not per document."
    X, vocab, texts, dictionary, As, layers = setup
    ours = npmi_coherence(X, list(layers[0]))
    theirs = _gensim('c_npmi', layers[0], vocab, texts, dictionary, window_size=10)
    assert np.abs(ours - theirs).max() > 1e-3


def test_topic_coherence_layers(setup):
    X, vocab, texts, dictionary, As, layers = setup
    coh = topic_coherence(X, [A.numpy() for A in As], 'umass', n_words=10)
    assert [c.shape for c in coh] == [(10,), (6,)]
    np.testing.assert_allclose(coh[1], umass_coherence(X, list(layers[1])), rtol=0, atol=0)
