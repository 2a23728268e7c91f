"""Operations the models are built and trained with: reconstruction losses (``losses``), convolution and
unpooling written out by hand (``convolution``), input corruptions (``corruptions``), code penalties
(``regularizers``) and the rate of a code in bits (``rate``)."""
