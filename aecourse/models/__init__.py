"""The course's models: the fully connected autoencoder (``autoencoder``), convolutional autoencoders
(``conv_autoencoder``), the n-h-n number system (``number_system``), deep nets pretrained layer by layer
(``pretraining``), restricted Boltzmann machines and their stacks (``rbm``), sequence-to-sequence
autoencoders (``seq2seq``), variational autoencoders (``vae``), a small transformer: patches, position codes,
blocks and a causal language model (``transformer``), and masked autoencoders (``mae``)."""
