"""Looking inside the models and measuring what they learned: WEAT, linear probes, attention heads,
the logit lens and the arithmetic of scaling laws (issue 16).

Pure statistics and model inspection: this package reads models (and their hidden states); it
never trains one (training sits in ``minifm.tasks``). Each module holds one idea:

    weat        the Word Embedding Association Test (Caliskan et al. 2017)
    probes      linear (softmax) probes with control tasks (Hewitt & Liang 2019)
    heads       attention maps and head ablation for GPT
    logit_lens  every layer's residual stream decoded by the LM head (nostalgebraist 2020)
    scaling     parameter and compute counts, power-law fits (Kaplan et al. 2020)
    states      every layer's hidden states of GPT and BERT (for probes and the lens)
    agreement   subject-verb agreement judged by minimal pairs (Linzen et al. 2016)
"""
