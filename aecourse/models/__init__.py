"""The course's models: the fully connected autoencoder (``autoencoder``), convolutional autoencoders
(``conv_autoencoder``), the n-h-n number system (``number_system``), deep nets pretrained layer by layer
(``pretraining``), restricted Boltzmann machines and their stacks (``rbm``), sequence-to-sequence
autoencoders (``seq2seq``), variational autoencoders (``vae``), vector-quantized autoencoders (``vq``)
and the PixelCNN prior over their codes (``pixelcnn``), a small transformer: patches, position codes,
blocks and a causal language model (``transformer``), masked autoencoders (``mae``), the toy model of
superposition (``superposition``) and sparse autoencoders that learn a dictionary of features
(``sparse_autoencoder``)."""
